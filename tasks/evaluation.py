"""Evaluation-stage tasks: merge a checkpoint, judge a model, compare, report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from rm_core.artifacts import stage_dir
from rm_core.config import DataConfig
from rm_core.data.stage import template_for
from rm_core.evaluation import promotion, report, stage
from rm_core.evaluation.registry import Decision, load_champion, read_decisions
from rm_core.evaluation.settings import EvaluationSettings
from rm_core.evaluation.tracking import log_to_wandb
from rm_core.training.spec import WandbSettings
from tasks.caching import stage_cache_key


def _merge_plan(step_dir: Path, root: Path) -> tuple[str, Path]:
    key = stage.merge_key(step_dir)
    return key, stage_dir(root, "merge", key)


@task(name="merge-checkpoint", task_run_name="merge-{step_dir.name}", retries=1,
      retry_delay_seconds=10, cache_key_fn=stage_cache_key(_merge_plan), persist_result=True)
def merge_checkpoint(step_dir: Path, root: Path) -> Path:
    """FSDP shards of a `global_step_N` -> a Hugging Face folder (once per checkpoint)."""
    merged = stage.merged_model(step_dir, root)
    get_run_logger().info("merged %s into %s", step_dir, merged)
    return merged


def _evaluate_plan(label: str, kind: str, step: int | None, model_dir: Path, val_path: Path,
                   data: DataConfig, settings: EvaluationSettings, max_new_tokens: int,
                   root: Path) -> tuple[str, Path]:
    key = stage.evaluation_key(model_dir, val_path, template_for(data), settings,
                               max_new_tokens)
    return f"{key}|{label}|{kind}|{step}", stage_dir(root, "eval", key)


@task(name="evaluate-model", task_run_name="evaluate-{label}",
      cache_key_fn=stage_cache_key(_evaluate_plan), persist_result=True)
def evaluate_judge(label: str, kind: str, step: int | None, model_dir: Path, val_path: Path,
                   data: DataConfig, settings: EvaluationSettings, max_new_tokens: int,
                   root: Path) -> stage.EvaluatedModel:
    """Judge the val rows with one model (cached per model files, rows and settings)."""
    logger = get_run_logger()
    logger.info("judging %s with %s (%s)", val_path.name, label, model_dir)
    judged = stage.evaluate_cached(label, kind, step, model_dir, val_path, template_for(data),
                                   settings, max_new_tokens, root)
    logger.info("%s", report.describe(judged))
    return judged


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
                          base_judged: stage.EvaluatedModel | None = None) -> Decision:
    """Promote the best checkpoint only if it beats the champion (none yet: the base
    model) beyond the noise."""
    decision = promotion.compare_and_promote(
        registry_dir, challenger, load_champion(registry_dir), champion_judged, metric,
        data_fingerprint, run_id, provenance, base_judged,
    )  # fmt: skip
    get_run_logger().info("%s: %s", "PROMOTED" if decision.promote else "not promoted",
                          decision.reason)
    return decision


@task(name="report-evaluation")
def report_evaluation(title: str, metric: str, models: list[stage.EvaluatedModel],
                      best: stage.EvaluatedModel | None, decision: Decision | None,
                      training_metrics: list[dict[str, Any]], out_dir: Path,
                      wandb: WandbSettings) -> report.EvaluationSummary:
    """Plots, report.md, the Prefect markdown and table artifacts, W&B."""
    summary = report.write(title, metric, models, best, decision, training_metrics, out_dir)
    create_markdown_artifact(report.markdown(summary), key="evaluation-report",
                             description=f"evaluation of {title}")
    create_table_artifact(report.table_rows(models), key="evaluation-metrics",
                          description="metrics per model, 95% bootstrap CIs")
    if wandb.enabled:
        run_dir = log_to_wandb(summary, wandb.project, wandb.mode, out_dir / "wandb", title)
        get_run_logger().info("evaluation metrics logged to W&B (%s): %s", wandb.mode, run_dir)
    get_run_logger().info("evaluation report: %s", summary.report_path)
    return summary
