"""Model registry: the promoted champion and the promotion decision against it.

Layout of a registry directory (e.g. `<artifacts>/registry/<name>/`):

    champion/        a copy of the champion's model folder
    champion.json    its metadata: metrics, per-row validation predictions with the rows'
                     unique_ids, data fingerprint, config, run id, step, promoted_at and
                     the size of every file in champion/, its public benchmark scores
    decisions.jsonl  one line per promotion decision, promoted or not
    benchmarks.jsonl every judged model's public benchmark scores (rm_core.benchmarks)

A challenger is compared with the champion on the SAME validation rows (matched by
unique_id) with a paired bootstrap; `decide` is this comparison, the gate's first bar
(`gate.py` adds the others: constants, correlation or chance, text baseline). It
passes only if the CI lower bound of the improvement is above 0. Before the first
promotion the incumbent is the base model judged on the same rows: a trained judge no
better than the model it started from is not promoted. Comparing against a champion
scored on other data would be meaningless, so that case is refused with a clear reason
instead of being compared.

Promotion never edits the live champion in place: the new model is copied into a
temporary sibling first (a failed copy leaves the old champion untouched), then swapped
in with renames and champion.json replaced atomically. The file sizes recorded in
champion.json let `load_champion` detect the only inconsistent state left (a crash
between those renames) instead of trusting a mismatched folder.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rm_core.errors import RmPipelineError
from rm_core.evaluation import metrics as m

CHAMPION_DIR = "champion"
CHAMPION_JSON = "champion.json"
DECISIONS_JSONL = "decisions.jsonl"
DIFFERENT_DATA = "champion evaluated on different validation data"

Metric = Callable[..., float]

# name -> (metric(pred, true, max_score[, k]), higher is better). Lower-is-better metrics
# are negated for the bootstrap so that a positive delta always means "challenger better".
METRICS: dict[str, tuple[Metric, bool]] = {
    "mean_reward": (m.mean_reward, True),
    "accuracy": (m.exact_accuracy, True),
    "within1_accuracy": (m.within1_accuracy, True),
    "pearson_parsed": (m.pearson_parsed, True),
    "spearman_parsed": (m.spearman_parsed, True),
    "mae_parsed": (m.mae_parsed, False),
    "rmse_parsed": (m.rmse_parsed, False),
    "parse_failure_rate": (m.parse_failure_rate, False),
}


class RegistryError(RmPipelineError):
    """The registry or a model folder to promote is missing, corrupt or inconsistent."""


class ChampionMetadata(BaseModel):
    """What a caller knows about a model when promoting it (everything but the files)."""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="constants")

    metrics: dict[str, float]
    predictions: list[int]
    unique_ids: list[str]
    data_fingerprint: str
    config: dict[str, Any] = Field(default_factory=dict)
    run_id: str
    step: int
    benchmarks: dict[str, dict[str, Any]] = Field(default_factory=dict)  # name -> scores

    @model_validator(mode="after")
    def _rows_line_up(self) -> ChampionMetadata:
        """Predictions are matched to rows by unique_id, so both must line up one to one."""
        if len(self.predictions) != len(self.unique_ids):
            raise ValueError(
                f"{len(self.predictions)} predictions for {len(self.unique_ids)} unique_ids"
            )
        if len(set(self.unique_ids)) != len(self.unique_ids):
            raise ValueError("unique_ids contain duplicates")
        return self


class Champion(ChampionMetadata):
    """The promoted model: its metadata, when it was promoted and the files it consists of."""

    promoted_at: str
    files: dict[str, int]
    path: Path | None = Field(default=None, exclude=True)


class Baseline(BaseModel):
    """The base model's judgements of the challenger's rows: the incumbent before any
    champion exists."""

    model_config = ConfigDict(frozen=True)

    predictions: list[int]
    unique_ids: list[str]


class Decision(BaseModel):
    """Whether a challenger replaces the champion, with the numbers behind the choice."""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="constants")

    promote: bool
    metric: str
    champion_value: float | None = None
    challenger_value: float
    delta: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    n_rows: int
    champion_run_id: str | None = None
    incumbent: str | None = Field(None, description="'champion', 'base model' or None")
    reason: str


# --- decision ------------------------------------------------------------------------


def bound_metric(metric: str, max_score: int, k: float) -> Callable[[Any, Any], float]:
    """metric(pred, true) as reported, with max_score (and k for mean_reward) bound."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {sorted(METRICS)}")
    fn, _ = METRICS[metric]
    if fn is m.mean_reward:
        return partial(fn, max_score=max_score, k=k)
    return partial(fn, max_score=max_score)


def improvement_fn(metric: str, max_score: int, k: float) -> Callable[[Any, Any], float]:
    """The metric oriented so that larger is better: the bootstrap's delta > 0 = better."""
    bound = bound_metric(metric, max_score, k)
    return bound if METRICS[metric][1] else (lambda p, t: -bound(p, t))


def _align(incumbent: Champion | Baseline, unique_ids: Sequence[str]) -> list[int] | None:
    """Incumbent predictions in the challenger's row order; None if any row is missing."""
    by_id = dict(zip(incumbent.unique_ids, incumbent.predictions, strict=True))
    if not all(uid in by_id for uid in unique_ids):
        return None
    return [by_id[uid] for uid in unique_ids]


def _different_data(champion: Champion, challenger_value: float, n: int, metric: str) -> Decision:
    return Decision(
        promote=False,
        metric=metric,
        challenger_value=challenger_value,
        n_rows=n,
        champion_run_id=champion.run_id,
        incumbent="champion",
        reason=(
            f"{DIFFERENT_DATA} (fingerprint {champion.data_fingerprint!r}): not promoted; "
            f"re-evaluate the champion on these {n} rows to compare"
        ),
    )


def decide(
    challenger_pred: Sequence[int | None] | np.ndarray,
    true: Sequence[int] | np.ndarray,
    unique_ids: Sequence[str],
    champion: Champion | None,
    metric: str = "mean_reward",
    n_resamples: int = 1000,
    seed: int = 0,
    max_score: int = 4,
    k: float = 2.0,
    data_fingerprint: str | None = None,
    confidence: float = 0.95,
    baseline: Baseline | None = None,
) -> Decision:
    """Promote only if the paired-bootstrap CI low of the improvement over the incumbent
    (the champion, else the `baseline` base model) is above 0; with neither, promote.

    `data_fingerprint` is the challenger's validation data fingerprint; when given and
    different from the champion's, or when the champion's unique_ids do not cover the
    challenger's rows, nothing is compared and the decision says so.
    """
    score = bound_metric(metric, max_score, k)
    pred, t = m.normalise(challenger_pred, true, max_score)
    ids = [str(u) for u in unique_ids]
    if len(ids) != t.size:
        raise ValueError(f"{len(ids)} unique_ids for {t.size} rows")
    if len(set(ids)) != len(ids):
        raise ValueError("unique_ids contain duplicates")
    value = float(score(pred, t))
    n = int(t.size)
    if champion is None and baseline is None:
        return Decision(
            promote=True,
            metric=metric,
            challenger_value=value,
            n_rows=n,
            reason=f"no champion yet and no base model judged: first model promoted "
            f"({metric} {value:.4f} on {n} rows)",
        )
    incumbent: Champion | Baseline = champion if champion is not None else baseline
    name = "champion" if champion is not None else "base model"
    aligned = _align(incumbent, ids)
    if champion is not None and (aligned is None or (
            data_fingerprint is not None and data_fingerprint != champion.data_fingerprint)):
        return _different_data(champion, value, n, metric)
    if aligned is None:
        raise ValueError("the base model was not judged on the challenger's rows")
    champ_value = float(score(aligned, t))
    delta, low, high = m.paired_bootstrap_delta(
        aligned,
        pred,
        t,
        improvement_fn(metric, max_score, k),
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
        max_score=max_score,
    )
    promote = not math.isnan(low) and low > 0
    verdict = "CI above 0: promoted" if promote else "CI not above 0: not promoted"
    first = "" if champion is not None else "no champion yet, so the base model is the bar: "
    reason = (
        f"{first}{metric}: challenger {value:.4f} vs {name} {champ_value:.4f} on {n} shared "
        f"rows, improvement {delta:+.4f}, {confidence:.0%} CI [{low:+.4f}, {high:+.4f}]; "
        f"{verdict}"
    )
    return Decision(
        promote=promote,
        metric=metric,
        champion_value=champ_value,
        challenger_value=value,
        delta=delta,
        ci_low=low,
        ci_high=high,
        n_rows=n,
        champion_run_id=champion.run_id if champion is not None else None,
        incumbent=name,
        reason=reason,
    )


# --- registry files ------------------------------------------------------------------


def _file_sizes(directory: Path) -> dict[str, int]:
    """Relative path -> size of every file, the fingerprint load_champion checks."""
    return {
        p.relative_to(directory).as_posix(): p.stat().st_size
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def _write_atomic(path: Path, text: str) -> None:
    """Write through a temp file + fsync + rename: readers see the old or the new file."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _tmp_sibling(path: Path, tag: str) -> Path:
    return path.with_name(f".{path.name}.{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _swap_in(staged: Path, target: Path) -> None:
    """Replace `target` with the fully written `staged` directory by renames."""
    old = _tmp_sibling(target, "old") if target.exists() else None
    if old is not None:
        os.replace(target, old)
    try:
        os.replace(staged, target)
    except OSError:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def promote(
    registry_dir: Path, model_dir: Path, metadata: ChampionMetadata | dict[str, Any]
) -> Champion:
    """Make `model_dir` the champion: copy it, then swap it and its metadata in."""
    registry_dir, model_dir = Path(registry_dir), Path(model_dir)
    if not model_dir.is_dir():
        raise RegistryError(f"cannot promote {model_dir}: model directory does not exist")
    meta = ChampionMetadata.model_validate(
        metadata.model_dump() if isinstance(metadata, BaseModel) else metadata
    )
    registry_dir.mkdir(parents=True, exist_ok=True)
    target = registry_dir / CHAMPION_DIR
    staged = _tmp_sibling(target, "tmp")
    try:
        try:
            shutil.copytree(model_dir, staged)
        except OSError as exc:
            raise RegistryError(f"cannot copy model directory {model_dir}: {exc}") from exc
        champion = Champion(
            **meta.model_dump(),
            promoted_at=datetime.now(UTC).isoformat(),
            files=_file_sizes(staged),
            path=target,
        )
        _swap_in(staged, target)
        _write_atomic(registry_dir / CHAMPION_JSON, champion.model_dump_json(indent=2))
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return champion


def load_champion(registry_dir: Path) -> Champion | None:
    """The current champion, None if none was promoted; RegistryError if it is corrupt."""
    registry_dir = Path(registry_dir)
    meta_path = registry_dir / CHAMPION_JSON
    if not meta_path.exists():
        return None
    try:
        champion = Champion.model_validate_json(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError, ValidationError) as exc:
        raise RegistryError(f"corrupt champion metadata {meta_path}: {exc}") from exc
    target = registry_dir / CHAMPION_DIR
    if not target.is_dir() or _file_sizes(target) != champion.files:
        raise RegistryError(
            f"champion files in {target} do not match {meta_path}: re-promote the champion"
        )
    return champion.model_copy(update={"path": target})


def record_decision(registry_dir: Path, decision: Decision, run_id: str,
                    train_key: str | None = None, evaluation_version: str | None = None,
                    data_fingerprint: str | None = None) -> None:
    """Append the decision and its numbers to decisions.jsonl, promoted or not, with the
    train stage it judged, the evaluation that judged it (so a later run can tell that
    nothing changed since) and the rows it was judged on (the history shows them)."""
    registry_dir = Path(registry_dir)
    registry_dir.mkdir(parents=True, exist_ok=True)
    entry = {
        "run_id": run_id,
        "train_key": train_key,
        "evaluation_version": evaluation_version,
        "data_fingerprint": data_fingerprint,
        "decided_at": datetime.now(UTC).isoformat(),
        **json.loads(decision.model_dump_json()),
    }
    line = json.dumps(entry, sort_keys=True) + "\n"
    with (registry_dir / DECISIONS_JSONL).open("a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def read_decisions(registry_dir: Path) -> list[dict[str, Any]]:
    """Every recorded decision, oldest first."""
    path = Path(registry_dir) / DECISIONS_JSONL
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


# --- public benchmark scores (rm_core.benchmarks) ------------------------------------------
BENCHMARKS_JSONL = "benchmarks.jsonl"


def record_benchmark_scores(registry_dir: Path, entry: dict[str, Any]) -> None:
    """Append a judged model's benchmark scores next to the champion (benchmarks.jsonl), so
    a later judge's scores on the same items can be read beside them."""
    registry_dir = Path(registry_dir)
    registry_dir.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"recorded_at": datetime.now(UTC).isoformat(), **entry}, sort_keys=True)
    with (registry_dir / BENCHMARKS_JSONL).open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def read_benchmark_scores(registry_dir: Path) -> list[dict[str, Any]]:
    """Every recorded benchmark score, oldest first."""
    path = Path(registry_dir) / BENCHMARKS_JSONL
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
