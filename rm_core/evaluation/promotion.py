"""Champion vs challenger on the same validation rows, decided and recorded either way.

The champion is judged again on today's validation rows with today's settings (a cached
judgement, see `stage.evaluation_dir`) before the comparison: predictions it made on
other data when it was promoted cannot be paired with the challenger's. Before the
first promotion, the base model judged in the same run is the bar to beat. Beating it
is one bar of the gate (`gate.py`): the challenger must also beat every constant answer
and, for a score judge, rank rows like the labels.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from rm_core.artifacts import code_version, stage_key
from rm_core.benchmarks.scoring import PairedDelta
from rm_core.evaluation.gate import GatedDecision, Reference, Scoring, gated
from rm_core.evaluation.pointwise import MetricReport
from rm_core.evaluation.registry import (
    Baseline,
    Champion,
    ChampionMetadata,
    Decision,
    decide,
    promote,
    record_decision,
)
from rm_core.evaluation.runner import JudgeReport
from rm_core.evaluation.settings import EvaluationSettings
from rm_core.evaluation.stage import EvaluatedModel
from rm_core.judge.templates import PREFERENCE_CODES


class BenchmarkOutcome(BaseModel):
    """The challenger on the public benchmarks of `evaluation.benchmarks`: its scores
    (benchmark -> metric values, parse failures, items file) and, with
    `evaluation.promotion_benchmark`, its paired comparison with the incumbent there
    (None when no incumbent was benchmarked)."""

    scores: dict[str, dict[str, Any]] = Field(default_factory=dict)
    paired: PairedDelta | None = None


def rescored(champion: Champion, judged: EvaluatedModel, data_fingerprint: str) -> Champion:
    """The champion with the predictions it makes on the rows being compared."""
    return champion.model_copy(update={
        "predictions": judged.evaluation.predictions,
        "unique_ids": judged.evaluation.unique_ids,
        "data_fingerprint": data_fingerprint,
    })


def _scale(report: JudgeReport) -> dict[str, Any]:
    """max_score (and k) for the registry's metric functions; a pairwise judge's verdicts
    are coded 0..2 and compared by accuracy or parse failures only."""
    if isinstance(report, MetricReport):
        return {"max_score": report.max_score, "k": report.k}
    return {"max_score": max(PREFERENCE_CODES.values())}


def text_reference(baseline: EvaluatedModel | None,
                   unique_ids: list[str]) -> Reference | None:
    """The text baseline's predictions on the challenger's rows; None without a baseline
    or when it did not judge every one of those rows."""
    if baseline is None:
        return None
    by_id = dict(zip(baseline.evaluation.unique_ids, baseline.evaluation.predictions,
                     strict=True))
    if not all(uid in by_id for uid in unique_ids):
        return None
    return Reference(name=baseline.evaluation.model, predictions=[by_id[u] for u in unique_ids])


def benchmark_decision(benchmark: str, paired: PairedDelta | None, incumbent: str | None,
                       champion_run_id: str | None, confidence: float = 0.95) -> Decision:
    """The incumbent comparison made on a public benchmark's overall score (paired over
    its items) instead of the val metric; no incumbent benchmarked: nothing to beat."""
    metric = f"benchmark:{benchmark}"
    if paired is None:
        return Decision(promote=True, metric=metric, challenger_value=float("nan"),
                        n_rows=0, reason="no champion yet and no base model judged: nothing "
                        "to beat on the benchmark")
    promote = not math.isnan(paired.ci_low) and paired.ci_low > 0
    reason = (f"{metric} overall: challenger {paired.challenger:.4f} vs {incumbent} "
              f"{paired.incumbent:.4f} on {paired.n_items} shared items, improvement "
              f"{paired.delta:+.4f}, {confidence:.0%} CI [{paired.ci_low:+.4f}, "
              f"{paired.ci_high:+.4f}]; {'CI above 0' if promote else 'CI not above 0'}")
    return Decision(promote=promote, metric=metric, champion_value=paired.incumbent,
                    challenger_value=paired.challenger, delta=paired.delta,
                    ci_low=paired.ci_low, ci_high=paired.ci_high, n_rows=paired.n_items,
                    champion_run_id=champion_run_id, incumbent=incumbent, reason=reason)


def compare_and_promote(
    registry_dir: Path,
    challenger: EvaluatedModel,
    champion: Champion | None,
    champion_judged: EvaluatedModel | None,
    metric: str,
    data_fingerprint: str,
    run_id: str,
    provenance: dict[str, Any],
    base_judged: EvaluatedModel | None = None,
    settings: EvaluationSettings | None = None,
    text_baseline: EvaluatedModel | None = None,
    benchmarks: BenchmarkOutcome | None = None,
) -> GatedDecision:
    """Promote `challenger` if it clears every required bar of `settings.gate` - beats the
    champion (none yet: the base model, when judged) and the best constant beyond the
    noise, ranks like the labels...; record the decision with every bar's numbers.

    `provenance` (config, train stage key, evaluation version, code version...) is kept
    with a promoted champion, and its train key and evaluation version with every
    decision, so a later run can tell whether anything changed since. `benchmarks` (the
    challenger's public benchmark scores, and with `settings.promotion_benchmark` its
    paired comparison there) decides the incumbent bar instead of the val metric and is
    kept with a promoted champion.
    """
    evaluation, report = challenger.evaluation, challenger.evaluation.report
    if champion is not None and champion_judged is not None:
        champion = rescored(champion, champion_judged, data_fingerprint)
    baseline = None
    if base_judged is not None:
        baseline = Baseline(predictions=base_judged.evaluation.predictions,
                            unique_ids=base_judged.evaluation.unique_ids)
    settings = settings or EvaluationSettings()
    scale = _scale(report)
    if settings.promotion_benchmark and benchmarks is not None:
        incumbent = benchmark_decision(
            settings.promotion_benchmark, benchmarks.paired,
            "champion" if champion is not None else "base model",
            champion.run_id if champion is not None else None)
    else:
        incumbent = decide(
            evaluation.predictions, evaluation.true, evaluation.unique_ids, champion,
            metric=metric, n_resamples=report.n_resamples, seed=report.seed,
            data_fingerprint=data_fingerprint, baseline=baseline, **scale,
        )  # fmt: skip
    scoring = Scoring(n_resamples=report.n_resamples, seed=report.seed, **scale)
    decision = gated(incumbent, evaluation.predictions, evaluation.true, report, settings.gate,
                     scoring, settings.collapse_share,
                     text_reference(text_baseline, evaluation.unique_ids), metric)
    if decision.promote:
        promote(registry_dir, challenger.model_dir, ChampionMetadata(
            metrics=report.headline(),
            predictions=evaluation.predictions,
            unique_ids=evaluation.unique_ids,
            data_fingerprint=data_fingerprint,
            config=provenance,
            run_id=run_id,
            step=challenger.step or 0,
            benchmarks=benchmarks.scores if benchmarks is not None else {},
        ))  # fmt: skip
    record_decision(registry_dir, decision, run_id, provenance.get("train_key"),
                    provenance.get("evaluation_version"), data_fingerprint)
    return decision


def evaluation_version(settings: EvaluationSettings) -> str:
    """What a decision on a trained run depends on besides the run: the merge, judging,
    gate and text-baseline code (`promote` in STAGE_CODE) and the evaluation settings,
    the gate's bars and the public benchmarks among them (the registry's place aside),
    with the benchmark judging code when benchmarks are listed: adding one re-decides a
    trained run (its training and val judgements cached), it does not retrain."""
    benchmarks = {"bench": code_version("bench")} if settings.benchmarks else {}
    return stage_key("promote", merge=code_version("merge"), eval=code_version("eval"),
                     settings=settings.model_dump(mode="json", exclude={"registry_dir"}),
                     **benchmarks)


def unchanged_reason(champion: Champion | None, decisions: list[dict[str, Any]],
                     train_key: str, evaluation: str) -> str | None:
    """Why running again would reproduce a decision already taken, or None when something
    changed.

    The train stage key hashes the verl rows (so the source data and the data config),
    the whole training spec, the base model's files and the training code: equal keys
    mean the same training run. `evaluation` (see `evaluation_version`) must match too:
    with new evaluation code or settings the run is judged and decided on again, its
    training answered from the cache.
    """
    same = (f"same data, training config, base model and training code (train stage "
            f"{train_key}), same evaluation code and settings. Training and evaluation "
            "skipped; run with force=true to train and evaluate anyway.")
    if (champion is not None and champion.config.get("train_key") == train_key
            and champion.config.get("evaluation_version") == evaluation):
        return (f"nothing changed since the champion was trained (run {champion.run_id}, "
                f"step {champion.step}, promoted {champion.promoted_at}): {same}")
    decided = [d for d in decisions if d.get("train_key") == train_key
               and d.get("evaluation_version") == evaluation]
    if not decided:
        return None
    last = decided[-1]
    return (f"nothing changed since run {last['run_id']} trained this judge and decided "
            f"at {last['decided_at']}: {last['reason']}. {same}")
