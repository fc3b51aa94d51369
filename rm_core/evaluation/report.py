"""The evaluation report: one markdown page and one table, base vs checkpoints vs champion."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from rm_core.evaluation import plots as plots_
from rm_core.evaluation.metrics import MetricValue, evaluate_pointwise
from rm_core.evaluation.registry import Decision
from rm_core.evaluation.stage import EvaluatedModel

HEADLINE = {
    "mean_reward": "mean reward",
    "accuracy": "accuracy",
    "within1_accuracy": "within-1",
    "mae_parsed": "MAE",
    "rmse_parsed": "RMSE",
    "parse_failure_rate": "parse failures",
    "pearson_parsed": "Pearson",
    "spearman_parsed": "Spearman",
}
EXAMPLES = 3


class EvaluationSummary(BaseModel):
    """What an evaluation decided and where its files are: the flow's result."""

    model_config = ConfigDict(ser_json_inf_nan="constants")

    title: str
    metric: str
    models: list[EvaluatedModel]
    best: str | None
    decision: Decision | None
    plots: dict[str, Path]
    report_path: Path

    def model(self, label: str) -> EvaluatedModel:
        return next(m for m in self.models if m.label == label)


def _cell(value: MetricValue) -> str:
    if math.isnan(value.value):
        return "n/a"
    if math.isnan(value.ci_low):
        return f"{value.value:.3f}"
    return f"{value.value:.3f} [{value.ci_low:.2f}, {value.ci_high:.2f}]"


def constant_baseline(models: list[EvaluatedModel]) -> EvaluatedModel | None:
    """A judge that always answers the median true label: the floor a trained judge must beat."""
    if not models:
        return None
    first = models[0].evaluation
    label = int(statistics.median_low(first.true))
    report = evaluate_pointwise([label] * first.n, first.true, max_score=first.report.max_score,
                                k=first.report.k, n_resamples=first.report.n_resamples,
                                seed=first.report.seed)
    evaluation = first.model_copy(update={"model": f"constant {label}", "backend": "none",
                                          "predictions": [label] * first.n, "completions": [],
                                          "report": report, "seconds": 0.0})
    return EvaluatedModel(label=f"always {label} (reference)", kind="reference",
                          model_dir=Path("-"), evaluation=evaluation)


def table_rows(models: list[EvaluatedModel]) -> list[dict[str, object]]:
    """One row per model for the Prefect table artifact: values and their CI bounds."""
    rows = []
    for model in models:
        report = model.evaluation.report
        row: dict[str, object] = {"model": model.label, "n": report.n, "parsed": report.n_parsed}
        for name in HEADLINE:
            value = report.metrics[name]
            row[name] = _number(value.value)
            row[f"{name} ci"] = f"[{_number(value.ci_low)}, {_number(value.ci_high)}]"
        row["seconds"] = round(model.evaluation.seconds, 1)
        rows.append(row)
    return rows


def _number(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 4)


def _metric_table(models: list[EvaluatedModel]) -> list[str]:
    lines = ["| model | " + " | ".join(HEADLINE.values()) + " |",
             "|---" * (len(HEADLINE) + 1) + "|"]
    for model in models:
        cells = [_cell(model.evaluation.report.metrics[name]) for name in HEADLINE]
        lines.append(f"| {model.label} | " + " | ".join(cells) + " |")
    return lines


def _confusion(model: EvaluatedModel) -> list[str]:
    report = model.evaluation.report
    lines = [f"## Confusion matrix of {model.label}", "",
             "| true \\ predicted | " + " | ".join(report.confusion_columns) + " |",
             "|---" * (len(report.confusion_columns) + 1) + "|"]
    lines += [f"| {label} | " + " | ".join(str(c) for c in counts) + " |"
              for label, counts in enumerate(report.confusion_matrix)]
    recall = ", ".join(f"{label}: {'n/a' if value is None else f'{value:.2f}'}"
                       for label, value in report.per_label_recall.items())
    return [*lines, "", f"Per-label recall: {recall}."]


def _decision(decision: Decision | None) -> str:
    if decision is None:
        return "**Promotion:** not considered (no registry for this evaluation)."
    verdict = "promoted to champion" if decision.promote else "champion kept"
    return f"**Promotion:** {verdict}. {decision.reason}"


def markdown(summary: EvaluationSummary) -> str:
    """The report page: settings, the metric table with 95% CIs, the decision, the files."""
    first = summary.models[0].evaluation
    reference = constant_baseline(summary.models)
    rows = [*summary.models, *([reference] if reference else [])]
    lines = [f"# Evaluation: {summary.title}", "",
             f"{first.n} validation rows, backend {first.backend}; each value with its "
             f"bootstrap 95% CI ({first.report.n_resamples} resamples). MAE, RMSE and the "
             "correlations use parsed answers only: read them next to the parse-failure rate.",
             "", *_metric_table(rows), ""]
    if summary.best is not None:
        best = summary.model(summary.best)
        lines += [f"**Best candidate:** {best.label} by {summary.metric} "
                  f"({best.metric(summary.metric):.4f}), `{best.model_dir}`.", "",
                  _decision(summary.decision), "", *_confusion(best), "",
                  f"## What {best.label} writes", "",
                  *[f"- `{text[:200]!r}`" for text in best.evaluation.completions[:EXAMPLES]],
                  ""]
    lines += ["## Files", "", f"- report: `{summary.report_path}`"]
    lines += [f"- {name}: `{path}`" for name, path in summary.plots.items()]
    return "\n".join(lines) + "\n"


REPORT_FILE, SUMMARY_FILE = "report.md", "summary.json"


def write(
    title: str,
    metric: str,
    models: list[EvaluatedModel],
    best: EvaluatedModel | None,
    decision: Decision | None,
    training_metrics: list[dict[str, float | int | None]],
    out_dir: Path,
) -> EvaluationSummary:
    """Plots, report.md and summary.json in `out_dir`; the summary points at all of them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = {f"{metric} per step": plots_.metric_per_step_png(
        models, metric, out_dir / "metric_per_step.png")}
    if best is not None:
        plots[f"confusion matrix of {best.label}"] = plots_.confusion_png(
            best.evaluation.report, best.label, out_dir / "confusion_matrix.png")
    if training_metrics:
        plots["training reward"] = plots_.training_reward_png(
            training_metrics, out_dir / "training_reward.png")
    summary = EvaluationSummary(title=title, metric=metric, models=models,
                                best=best.label if best else None, decision=decision,
                                plots=plots, report_path=out_dir / REPORT_FILE)
    summary.report_path.write_text(markdown(summary), encoding="utf-8")
    (out_dir / SUMMARY_FILE).write_text(summary.model_dump_json(indent=2), encoding="utf-8")
    return summary
