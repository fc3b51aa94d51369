"""Evaluation-stage tasks: merge checkpoints and judge models (jobs on the cluster), fit
the text baseline (in this process: no model), compare through the gate, report."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from pydantic import BaseModel

from rm_core import model_jobs
from rm_core.artifacts import is_complete
from rm_core.benchmarks.report import BenchmarkResult
from rm_core.cluster.resources import JobResources
from rm_core.cluster.target import RayTarget
from rm_core.config import DataConfig
from rm_core.data.stage import template_for
from rm_core.evaluation import history, promotion, report, stage
from rm_core.evaluation.gate import GatedDecision
from rm_core.evaluation.registry import load_champion, read_decisions
from rm_core.evaluation.runner import check_model_dir, check_val_file
from rm_core.evaluation.settings import EvaluationSettings
from rm_core.evaluation.text_baseline import TextBaselineError, evaluate_text_baseline
from rm_core.evaluation.tracking import log_to_wandb
from rm_core.training.spec import WandbSettings
from tasks.cluster import run_model_job, worth_retrying_task


class ModelToJudge(BaseModel):
    """One model a report shows: which, at which step, and its folder."""

    label: str
    kind: stage.Kind
    step: int | None = None
    model_dir: Path


@task(name="merge-checkpoints", retries=2, retry_delay_seconds=[10, 60],
      retry_condition_fn=worth_retrying_task)
def merge_checkpoints(step_dirs: dict[int, Path], root: Path, target: RayTarget,
                      resources: JobResources) -> dict[int, Path]:
    """FSDP shards of each `global_step_N` -> a Hugging Face folder, merged once per
    checkpoint by one job on the cluster (none when every step is merged already)."""
    merged = {step: stage.merged_dir(step_dir, root) for step, step_dir in step_dirs.items()}
    todo = [step_dirs[step] for step, folder in merged.items() if not is_complete(folder)]
    if todo:
        work_dir = root / "jobs" / "merge" / _digest(merged.values())
        run_model_job(model_jobs.merge_job(todo, root, work_dir, resources), target,
                      outputs=[folder for folder in merged.values() if not is_complete(folder)])
    get_run_logger().info("%d checkpoints merged (%d now)", len(merged), len(todo))
    return merged


@task(name="judge-models", retries=2, retry_delay_seconds=[10, 60],
      retry_condition_fn=worth_retrying_task)
def judge_models(models: list[ModelToJudge], val_path: Path, data: DataConfig,
                 settings: EvaluationSettings, max_new_tokens: int, root: Path,
                 target: RayTarget, resources: JobResources) -> list[stage.EvaluatedModel]:
    """Judge the val rows with every model in one job on the cluster (each judgement is
    stored per model files, rows, template and settings: a stored one is not redone)."""
    template = template_for(data)
    outs = [stage.evaluation_dir(model.model_dir, val_path, template, settings,
                                 max_new_tokens, root) for model in models]
    todo = [(model.model_dir, out) for model, out in zip(models, outs, strict=True)
            if not is_complete(out)]
    if todo:
        check_val_file(val_path, settings.limit)
        for model_dir, _ in todo:
            check_model_dir(model_dir)
        work_dir = root / "jobs" / "judge" / _digest(outs)
        job = model_jobs.judge_job(todo, val_path, data, settings, max_new_tokens, work_dir,
                                   resources)
        run_model_job(job, target, outputs=[out for _, out in todo])
    judged = [stage.read_evaluated(model.label, model.kind, model.step, model.model_dir, out)
              for model, out in zip(models, outs, strict=True)]
    for model in judged:
        get_run_logger().info("%s", report.describe(model))
    return judged


def _digest(paths: Iterable[Path]) -> str:
    """A job's work dir name: the outputs it makes (the same job is re-attached to)."""
    return hashlib.sha256("|".join(sorted(map(str, paths))).encode()).hexdigest()[:24]


@task(name="fit-text-baseline")
def text_baseline(train_path: Path | None, val_path: Path, data: DataConfig,
                  settings: EvaluationSettings) -> stage.EvaluatedModel | None:
    """TF-IDF + ridge (scores) or logistic regression (pairs) fitted on the train split and
    scored on the judges' validation rows; None without a train split."""
    if train_path is None or not train_path.is_file():
        get_run_logger().info("no train split%s: no text baseline",
                              f" at {train_path}" if train_path else "")
        return None
    try:
        evaluation = evaluate_text_baseline(train_path, val_path, template_for(data), settings)
    except TextBaselineError as exc:
        get_run_logger().warning("%s: the report has no text baseline", exc)
        return None
    model = stage.EvaluatedModel(label=f"{evaluation.model} (reference)", kind="reference",
                                 model_dir=train_path, evaluation=evaluation)
    get_run_logger().info("%s", report.describe(model))
    return model


@task(name="champion-model")
def champion_model(registry_dir: Path) -> Path | None:
    """The registry's champion folder, None before the first promotion."""
    champion = load_champion(registry_dir)
    return champion.path if champion else None


@task(name="check-for-changes")
def check_for_changes(registry_dir: Path, train_key: str, settings: EvaluationSettings,
                      force: bool) -> str | None:
    """The reason to skip this run (neither its training nor its evaluation changed since
    it was decided on), else None."""
    reason = promotion.unchanged_reason(load_champion(registry_dir), read_decisions(registry_dir),
                                        train_key, promotion.evaluation_version(settings))
    if reason is None:
        return None
    if force:
        get_run_logger().info("force=true: training anyway although %s", reason)
        return None
    get_run_logger().info("skipping: %s", reason)
    create_markdown_artifact(f"# Run skipped\n\n{reason}\n", key="run-skipped",
                             description="why this run did not train")
    return reason


@task(name="compare-with-champion")
def compare_with_champion(registry_dir: Path, challenger: stage.EvaluatedModel,
                          champion_judged: stage.EvaluatedModel | None, metric: str,
                          data_fingerprint: str, run_id: str,
                          provenance: dict[str, Any],
                          base_judged: stage.EvaluatedModel | None = None,
                          settings: EvaluationSettings | None = None,
                          text_reference: stage.EvaluatedModel | None = None,
                          benchmarks: promotion.BenchmarkOutcome | None = None
                          ) -> GatedDecision:
    """Promote the best checkpoint only if it clears the gate: beats the champion (none
    yet: the base model; on `evaluation.promotion_benchmark` when set) and every constant
    answer beyond the noise, and ranks like the labels (or, pairwise, beats chance)."""
    decision = promotion.compare_and_promote(
        registry_dir, challenger, load_champion(registry_dir), champion_judged, metric,
        data_fingerprint, run_id, provenance, base_judged, settings, text_reference,
        benchmarks,
    )  # fmt: skip
    get_run_logger().info("%s", decision.reason)
    return decision


def history_key(experiment: str) -> str:
    """Prefect artifact keys take lowercase letters, digits and dashes."""
    return "judge-history-" + re.sub(r"[^a-z0-9]+", "-", experiment.lower()).strip("-")


@task(name="publish-history")
def publish_history(registry_dir: Path, experiment: str) -> list[dict[str, Any]]:
    """The keyed table artifact `judge-history-<experiment>`, a new version every run
    (the UI's artifact page lists them): every decision so far, oldest first."""
    decisions = read_decisions(registry_dir)
    create_table_artifact(history.history_rows(decisions), key=history_key(experiment),
                          description=f"{experiment}: every promotion decision, oldest first")
    return decisions


@task(name="report-evaluation")
def report_evaluation(title: str, metric: str, models: list[stage.EvaluatedModel],
                      best: stage.EvaluatedModel | None, decision: GatedDecision | None,
                      training_metrics: list[dict[str, Any]], out_dir: Path,
                      wandb: WandbSettings, references: list[stage.EvaluatedModel] | None = None,
                      collapse_share: float = 0.8,
                      decisions: list[dict[str, Any]] | None = None,
                      benchmarks: list[BenchmarkResult] | None = None,
                      sections: list[str] | None = None) -> report.EvaluationSummary:
    """Plots, report.md (with the public benchmarks' section and the `sections` a kind of
    model adds), the Prefect markdown and table artifacts, W&B; a collapsed judge is a
    warning in the log."""
    summary = report.write(title, metric, models, best, decision, training_metrics, out_dir,
                           references, collapse_share, decisions, benchmarks, sections)
    for line in report.collapsed(models, collapse_share):
        get_run_logger().warning("collapse: %s", line)
    create_markdown_artifact(report.markdown(summary), key="evaluation-report",
                             description=f"evaluation of {title}")
    create_table_artifact(report.table_rows([*models, *summary.references], collapse_share),
                          key="evaluation-metrics",
                          description="metrics and collapse signs per model and reference, "
                                      "95% bootstrap CIs")
    if wandb.enabled:
        run_dir = log_to_wandb(summary, wandb.project, wandb.mode, out_dir / "wandb", title)
        get_run_logger().info("evaluation metrics logged to W&B (%s): %s", wandb.mode, run_dir)
    get_run_logger().info("evaluation report: %s", summary.report_path)
    return summary
