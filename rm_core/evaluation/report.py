"""The evaluation report: one markdown page and one table, base vs checkpoints vs champion.

A pairwise judge's page, table and log line show its `PairwiseReport` figures only;
score judges show the `MetricReport` metrics.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from rm_core.evaluation import plots as plots_
from rm_core.evaluation.metrics import MetricValue
from rm_core.evaluation.pairwise import PairwiseReport
from rm_core.evaluation.pointwise import MetricReport, evaluate_pointwise
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
    """A judge that always answers the median true label: the floor a trained judge must beat
    (scores only: a constant preference is what the position-bias columns measure)."""
    if not models or not isinstance(models[0].evaluation.report, MetricReport):
        return None
    first, scored = models[0].evaluation, models[0].evaluation.report
    label = int(statistics.median_low(first.true))
    report = evaluate_pointwise([label] * first.n, first.true, max_score=scored.max_score,
                                k=scored.k, n_resamples=scored.n_resamples, seed=scored.seed)
    evaluation = first.model_copy(update={"model": f"constant {label}", "backend": "none",
                                          "predictions": [label] * first.n, "completions": [],
                                          "report": report, "seconds": 0.0})
    return EvaluatedModel(label=f"always {label} (reference)", kind="reference",
                          model_dir=Path("-"), evaluation=evaluation)


def table_rows(models: list[EvaluatedModel]) -> list[dict[str, object]]:
    """One row per model for the Prefect table artifact: the headline figures of its report,
    each followed by its CI bounds when it has an interval."""
    rows = []
    for model in models:
        report = model.evaluation.report
        intervals = report.intervals()
        row: dict[str, object] = {"model": model.label, "n": report.n, "parsed": report.n_parsed}
        for name, value in report.headline().items():
            row[name] = _number(value)
            if name in intervals:
                ci = intervals[name]
                row[f"{name} ci"] = f"[{_number(ci.ci_low)}, {_number(ci.ci_high)}]"
        row["seconds"] = round(model.evaluation.seconds, 1)
        rows.append(row)
    return rows


def describe(model: EvaluatedModel) -> str:
    """One log line of what a model scored."""
    evaluation, report = model.evaluation, model.evaluation.report
    if isinstance(report, PairwiseReport):
        pref = report.preference
        figures = (f"accuracy {_cell(pref.accuracy)}, parse failures "
                   f"{_percent(pref.parse_failure_rate)}, predicted ties "
                   f"{_percent(pref.predicted_tie_rate)}, picks A "
                   f"{_percent(pref.first_position_rate)}, order flips "
                   f"{_percent(report.consistency.flip_rate)}")
    else:
        metrics = report.metrics
        figures = (f"mean reward {metrics['mean_reward'].value:.3f}, accuracy "
                   f"{metrics['accuracy'].value:.3f}, parse failures "
                   f"{_percent(metrics['parse_failure_rate'].value)}")
    return f"{model.label}: {figures} on {evaluation.n} rows ({evaluation.seconds:.0f} s)"


def _percent(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.0f}%"


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
              for label, counts in zip(report.confusion_rows, report.confusion_matrix,
                                       strict=True)]
    recall = ", ".join(f"{label}: {'n/a' if value is None else f'{value:.2f}'}"
                       for label, value in report.per_label_recall.items())
    return [*lines, "", f"Per-label recall: {recall}."]


def _decision(decision: Decision | None) -> str:
    if decision is None:
        return "**Promotion:** not considered (no registry for this evaluation)."
    if decision.promote:
        verdict = "promoted to champion"
    elif decision.incumbent == "base model":
        verdict = "not promoted, no champion yet"
    else:
        verdict = "champion kept"
    return f"**Promotion:** {verdict}. {decision.reason}"


def _rate(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def _pairwise_table(models: list[EvaluatedModel]) -> list[str]:
    """Preference accuracy, ties, position bias and conflicts per model."""
    lines = ["| model | accuracy | without tie labels | parse failures | predicted ties | "
             "picks A | order flips | symmetry conflicts | transitivity conflicts | cycles |",
             "|---" * 10 + "|"]
    for model in models:
        report = model.evaluation.report
        if not isinstance(report, PairwiseReport):
            continue
        pref, pos, con = report.preference, report.consistency, report.conflicts
        lines.append(
            f"| {model.label} | {_cell(pref.accuracy)} | {_rate(pref.accuracy_without_tie_labels)}"
            f" | {_rate(pref.parse_failure_rate)} | {_rate(pref.predicted_tie_rate)} | "
            f"{_rate(pref.first_position_rate)} | {_rate(pos.flip_rate)} of {pos.pairs_checked} | "
            f"{_rate(con.symmetry_conflict_rate)} of {con.symmetry_pairs} | "
            f"{_rate(con.transitivity_conflict_rate)} of {con.triples_checked} | "
            f"{con.prompts_with_cycle} of {con.prompts_checked} |"
        )
    return lines


def _dimension_table(models: list[EvaluatedModel]) -> list[str]:
    """Mean reward, accuracy and MAE of every dimension of a multi-attribute judge."""
    names = list(models[0].evaluation.per_dimension)
    lines = ["| model | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for model in models:
        reports = model.evaluation.per_dimension
        cells = [f"reward {_cell(reports[d].metrics['mean_reward'])}, accuracy "
                 f"{_cell(reports[d].metrics['accuracy'])}" for d in names if d in reports]
        lines.append(f"| {model.label} | " + " | ".join(cells) + " |")
    return ["Per dimension (each value with its 95% CI):", "", *lines]


def _tables(summary: EvaluationSummary) -> list[str]:
    first = summary.models[0].evaluation
    if isinstance(first.report, PairwiseReport):
        return [f"{first.n} judged orderings (every pair in both orders), backend "
                f"{first.backend}; accuracy with its bootstrap 95% CI. \"picks A\" is the share "
                "of verdicts for the first-shown response; order flips, symmetry and "
                "transitivity conflicts and cycles are rates over what could be checked.",
                "", *_pairwise_table(summary.models)]
    reference = constant_baseline(summary.models)
    rows = [*summary.models, *([reference] if reference else [])]
    lines = [f"{first.n} judged units, backend {first.backend}; each value with its "
             f"bootstrap 95% CI ({first.report.n_resamples} resamples). MAE, RMSE and the "
             "correlations use parsed answers only: read them next to the parse-failure rate.",
             "", *_metric_table(rows)]
    if first.per_dimension:
        lines += ["", *_dimension_table(summary.models)]
    return lines


def markdown(summary: EvaluationSummary) -> str:
    """The report page: settings, the metric tables with 95% CIs, the decision, the files."""
    lines = [f"# Evaluation: {summary.title}", "", *_tables(summary), ""]
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
