"""The evaluation stage without Prefect: merged checkpoints, cached judgements, the best one.

Every model a report shows (the base model, each `global_step_N`, the champion) is
judged once per (model files, validation rows, template, settings): the judgement is a
content-addressed stage directory like the data stage's, so a re-run, or a second
report over the same checkpoints, costs nothing.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from rm_core.artifacts import (
    atomic_dir,
    finish,
    is_complete,
    read_result,
    stage_dir,
    stage_key,
)
from rm_core.evaluation.checkpoints import CheckpointError, checkpoint_steps, merge
from rm_core.evaluation.registry import METRICS
from rm_core.evaluation.runner import JudgeEvaluation, evaluate_model
from rm_core.evaluation.settings import DECISION_ONLY, EvaluationSettings
from rm_core.judge.templates import Template
from rm_core.training.run import model_fingerprint

EVALUATION_FILE = "evaluation.json"
# base: the model training started from (step 0); checkpoint: a merged global_step_N;
# model: a model folder given as it is; champion: the registry's promoted model;
# reference: a constant answer, computed, not generated.
Kind = Literal["base", "checkpoint", "model", "champion", "reference"]
CANDIDATES = ("checkpoint", "model")


class EvaluatedModel(BaseModel):
    """One model's judgement in a report: which model, at which step, what it scored."""

    model_config = ConfigDict(ser_json_inf_nan="constants")

    label: str
    kind: Kind
    step: int | None = None
    model_dir: Path
    evaluation: JudgeEvaluation

    def metric(self, name: str) -> float:
        """The value of one of its report's headline figures."""
        return self.evaluation.report.headline()[name]


def step_label(step: int) -> str:
    return f"step {step}"


def run_checkpoints(path: Path) -> dict[int, Path]:
    """Steps of a training run directory (`<run>/checkpoints`) or of a checkpoint folder."""
    checkpoints = path / "checkpoints"
    return checkpoint_steps(checkpoints if checkpoints.is_dir() else path)


def merge_key(step_dir: Path) -> str:
    return stage_key("merge", actor=model_fingerprint(step_dir / "actor"))


def merged_dir(step_dir: Path, root: Path) -> Path:
    """Where the step's Hugging Face folder is (or will be) under `<root>/merge/`."""
    if not (step_dir / "actor").is_dir():
        raise CheckpointError(f"{step_dir} has no actor/ folder: not a verl checkpoint step")
    return stage_dir(root, "merge", merge_key(step_dir))


def merged_model(step_dir: Path, root: Path) -> Path:
    """The step's Hugging Face folder under `<root>/merge/`, merged only once."""
    return merge(step_dir, merged_dir(step_dir, root))


def file_fingerprint(path: Path) -> str:
    """sha256 of a file's bytes: identifies a validation set wherever it is stored."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def evaluation_key(model_dir: Path, val_path: Path, template: Template,
                   settings: EvaluationSettings, max_new_tokens: int) -> str:
    """Changes with the model's files, the rows, the template and what shapes generation."""
    judged = settings.model_dump(mode="json", exclude=set(DECISION_ONLY))
    return stage_key("eval", model=model_fingerprint(model_dir), val=file_fingerprint(val_path),
                     template=repr(template), settings=judged, max_new_tokens=max_new_tokens)


def evaluate_cached(
    label: str,
    kind: Kind,
    step: int | None,
    model_dir: Path,
    val_path: Path,
    template: Template,
    settings: EvaluationSettings,
    max_new_tokens: int,
    root: Path,
) -> EvaluatedModel:
    """Judge `model_dir` on `val_path`, or read the judgement a previous run stored."""
    out = evaluation_dir(model_dir, val_path, template, settings, max_new_tokens, root)
    if not is_complete(out):
        judge_into(model_dir, val_path, template, settings, max_new_tokens, out)
    return read_evaluated(label, kind, step, model_dir, out)


def evaluation_dir(model_dir: Path, val_path: Path, template: Template,
                   settings: EvaluationSettings, max_new_tokens: int, root: Path) -> Path:
    """Where the judgement of these inputs is stored under the artifacts root."""
    return stage_dir(root, "eval",
                     evaluation_key(model_dir, val_path, template, settings, max_new_tokens))


def judge_into(model_dir: Path, val_path: Path, template: Template,
               settings: EvaluationSettings, max_new_tokens: int, out: Path) -> None:
    """Judge the rows with the model (this loads it) and store the result in `out`."""
    evaluation = evaluate_model(model_dir, val_path, template, settings, max_new_tokens)
    with atomic_dir(out) as building:
        (building / EVALUATION_FILE).write_text(evaluation.model_dump_json(), encoding="utf-8")
        finish(building, {"model": str(model_dir)})


def read_evaluated(label: str, kind: Kind, step: int | None, model_dir: Path,
                   out: Path) -> EvaluatedModel:
    """A stored judgement, as one model of a report (reads a small JSON file)."""
    evaluation = JudgeEvaluation.model_validate_json(
        (out / EVALUATION_FILE).read_text(encoding="utf-8"))
    return EvaluatedModel(label=label, kind=kind, step=step, model_dir=model_dir,
                          evaluation=evaluation)


def best_candidate(models: list[EvaluatedModel], metric: str) -> EvaluatedModel | None:
    """The checkpoint or given model that scores best on `metric` (earliest step on a tie);
    None when only the base model or the champion were judged."""
    trained = [m for m in models if m.kind in CANDIDATES]
    if not trained:
        return None
    higher_is_better = METRICS[metric][1]

    def rank(model: EvaluatedModel) -> tuple[float, int]:
        value = model.metric(metric)
        oriented = value if higher_is_better else -value
        return (-math.inf if math.isnan(oriented) else oriented, -(model.step or 0))

    return max(trained, key=rank)


def training_metrics(run_dir: Path) -> list[dict[str, float | int | None]]:
    """The per-step metrics a finished training stage recorded; none for other folders."""
    if not is_complete(run_dir):
        return []
    return list(read_result(run_dir).get("metrics", []))
