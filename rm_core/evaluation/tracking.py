"""Evaluation metrics to Weights & Biases: offline by default, online when asked and keyed."""

from __future__ import annotations

from pathlib import Path

from rm_core.evaluation.report import EvaluationSummary


def wandb_steps(summary: EvaluationSummary) -> list[tuple[int, dict[str, float]]]:
    """(step, `eval/<figure>` values) per judged step, the base model at 0: the headline
    figures of the judge kind's report (preferences for a pairwise judge, scores else)."""
    stepped = sorted((m for m in summary.models if m.step is not None), key=lambda m: m.step or 0)
    return [(model.step or 0,
             {f"eval/{name}": value for name, value in model.evaluation.report.headline().items()})
            for model in stepped]


def log_to_wandb(summary: EvaluationSummary, project: str, mode: str, directory: Path,
                 run_name: str) -> Path:
    """One W&B run per evaluation: metrics per step, the best and the decision as summary.

    Returns the local run directory (what `wandb sync` uploads later in offline mode).
    """
    import wandb

    directory.mkdir(parents=True, exist_ok=True)
    run = wandb.init(project=project, name=run_name, mode=mode, dir=str(directory),
                     job_type="evaluation", reinit="create_new",
                     settings=wandb.Settings(silent=True, console="off"))
    try:
        for step, values in wandb_steps(summary):
            run.log(values, step=step)
        if summary.best is not None:
            run.summary["best"] = summary.best
        if summary.decision is not None:
            run.summary["promoted"] = summary.decision.promote
        return Path(run.dir).parent
    finally:
        run.finish()
