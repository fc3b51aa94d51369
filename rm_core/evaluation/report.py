"""The evaluation report: one markdown page and one table, base vs checkpoints vs champion.

A pairwise judge's page, table and log line show its `PairwiseReport` figures only;
score judges show the `MetricReport` metrics. Beside the judges: the references a judge
must beat (the best constant answer, the TF-IDF text baseline), every judge's collapse
signs, the gate's bars with their numbers when a promotion was decided, and the public
benchmarks' section when `evaluation.benchmarks` lists any.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from rm_core.benchmarks import report as bench_report
from rm_core.evaluation import gate as gate_
from rm_core.evaluation import history
from rm_core.evaluation import plots as plots_
from rm_core.evaluation.gate import CollapseSigns, GatedDecision
from rm_core.evaluation.metrics import MetricValue
from rm_core.evaluation.pairwise import PairwiseReport
from rm_core.evaluation.pointwise import MetricReport, evaluate_pointwise
from rm_core.evaluation.registry import Decision
from rm_core.evaluation.stage import EvaluatedModel
from rm_core.judge.templates import PREFERENCE_CODES

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
CONSTANT_BACKEND = "none"


class EvaluationSummary(BaseModel):
    """What an evaluation decided and where its files are: the flow's result."""

    model_config = ConfigDict(ser_json_inf_nan="constants")

    title: str
    metric: str
    models: list[EvaluatedModel]
    references: list[EvaluatedModel] = []
    best: str | None
    decision: GatedDecision | Decision | None
    collapse_share: float = 0.8
    plots: dict[str, Path]
    report_path: Path
    benchmarks: list[bench_report.BenchmarkResult] = []  # `evaluation.benchmarks`' step
    # Markdown lines a kind of model adds after the tables (a Bradley-Terry model's rewards).
    sections: list[str] = []

    def model(self, label: str) -> EvaluatedModel:
        return next(m for m in self.models if m.label == label)


def cell(value: MetricValue) -> str:
    """A metric as `value [low, high]`, `n/a` when undefined."""
    if math.isnan(value.value):
        return "n/a"
    if math.isnan(value.ci_low):
        return f"{value.value:.3f}"
    return f"{value.value:.3f} [{value.ci_low:.2f}, {value.ci_high:.2f}]"


def _pairwise(models: list[EvaluatedModel]) -> bool:
    return bool(models) and isinstance(models[0].evaluation.report, PairwiseReport)


def _scoring(first: EvaluatedModel) -> gate_.Scoring:
    report = first.evaluation.report
    if isinstance(report, MetricReport):
        return gate_.Scoring(max_score=report.max_score, k=report.k,
                             n_resamples=report.n_resamples, seed=report.seed)
    return gate_.Scoring(max_score=max(PREFERENCE_CODES.values()),
                         n_resamples=report.n_resamples, seed=report.seed)


def constants(models: list[EvaluatedModel], metric: str) -> dict[str, float]:
    """Every constant answer's value on the metric references are compared on."""
    if not models:
        return {}
    pairwise, first = _pairwise(models), models[0]
    compared = gate_.reference_metric(metric, pairwise)
    scoring = _scoring(first)
    score = gate_.bound_metric(compared, scoring.max_score, scoring.k)
    return {r.name: float(score(r.predictions, first.evaluation.true))
            for r in gate_.constant_references(first.evaluation.true, pairwise,
                                               scoring.max_score)}


def constant_reference(models: list[EvaluatedModel], metric: str) -> EvaluatedModel | None:
    """The best constant answer on the metric, as a report row: the floor a trained judge
    must beat (score judges; a pairwise judge's constants are listed, not tabled)."""
    if not models or _pairwise(models):
        return None
    first, scored = models[0].evaluation, models[0].evaluation.report
    compared = gate_.reference_metric(metric, False)
    best, _ = gate_.best_reference(
        gate_.constant_references(first.true, False, scored.max_score), first.true, compared,
        _scoring(models[0]))
    report = evaluate_pointwise(best.predictions, first.true, max_score=scored.max_score,
                                k=scored.k, n_resamples=scored.n_resamples, seed=scored.seed)
    evaluation = first.model_copy(update={"model": best.name, "backend": CONSTANT_BACKEND,
                                          "predictions": best.predictions, "completions": [],
                                          "report": report, "seconds": 0.0})
    return EvaluatedModel(label=f"{best.name} (reference)", kind="reference",
                          model_dir=Path("-"), evaluation=evaluation)


def signs(model: EvaluatedModel, collapse_share: float) -> CollapseSigns:
    return gate_.collapse_signs(model.evaluation.predictions, collapse_share,
                                isinstance(model.evaluation.report, PairwiseReport))


def collapsed(models: list[EvaluatedModel], collapse_share: float) -> list[str]:
    """One line per judge (not reference) whose answers collapsed to one value."""
    lines = []
    for model in models:
        found = signs(model, collapse_share)
        if model.kind != "reference" and found.collapsed:
            lines.append(f"{model.label} answers {found.top_answer} for "
                         f"{found.top_share:.0%} of the rows (flagged at "
                         f"{collapse_share:.0%}): a collapsed judge, not a judging one")
    return lines


def table_rows(models: list[EvaluatedModel],
               collapse_share: float = 0.8) -> list[dict[str, object]]:
    """One row per model (references included) for the Prefect table artifact: the
    headline figures of its report, each followed by its CI bounds when it has an
    interval, then its collapse signs."""
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
        found = signs(model, collapse_share)
        row.update({"top answer": found.top_answer, "top share": _number(found.top_share),
                    "entropy bits": _number(found.entropy_bits),
                    "parse rate": _number(found.parse_rate), "collapsed": found.collapsed,
                    "seconds": round(model.evaluation.seconds, 1)})
        rows.append(row)
    return rows


def describe(model: EvaluatedModel) -> str:
    """One log line of what a model scored."""
    evaluation, report = model.evaluation, model.evaluation.report
    if isinstance(report, PairwiseReport):
        pref = report.preference
        figures = (f"accuracy {cell(pref.accuracy)}, parse failures "
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
        cells = [cell(model.evaluation.report.metrics[name]) for name in HEADLINE]
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


def _decision(decision: GatedDecision | Decision | None) -> str:
    if decision is None:
        return "**Promotion:** not considered (no registry for this evaluation)."
    if decision.promote:
        verdict = "promoted to champion"
    elif decision.incumbent == "base model":
        verdict = "not promoted, no champion yet"
    else:
        verdict = "champion kept"
    if isinstance(decision, GatedDecision) and decision.bars:
        failed = [bar.title for bar in decision.bars if bar.required and not bar.passed]
        why = ("failed " + "; ".join(failed) if failed else "every required bar passed")
        return f"**Promotion:** {verdict}: {why} (the gate's numbers below)."
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
            f"| {model.label} | {cell(pref.accuracy)} | {_rate(pref.accuracy_without_tie_labels)}"
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
        cells = [f"reward {cell(reports[d].metrics['mean_reward'])}, accuracy "
                 f"{cell(reports[d].metrics['accuracy'])}" for d in names if d in reports]
        lines.append(f"| {model.label} | " + " | ".join(cells) + " |")
    return ["Per dimension (each value with its 95% CI):", "", *lines]


def _tables(summary: EvaluationSummary) -> list[str]:
    first = summary.models[0].evaluation
    if isinstance(first.report, PairwiseReport):
        return [f"{first.n} judged orderings (every pair in both orders), backend "
                f"{first.backend}; accuracy with its bootstrap 95% CI. \"picks A\" is the share "
                "of verdicts for the first-shown response; order flips, symmetry and "
                "transitivity conflicts and cycles are rates over what could be checked.",
                "", *_pairwise_table([*summary.models, *summary.references])]
    rows = [*summary.models, *summary.references]
    lines = [f"{first.n} judged units, backend {first.backend}; each value with its "
             f"bootstrap 95% CI ({first.report.n_resamples} resamples). MAE, RMSE and the "
             "correlations use parsed answers only: read them next to the parse-failure rate.",
             "", *_metric_table(rows)]
    if first.per_dimension:
        lines += ["", *_dimension_table(summary.models)]
    return lines


def _references(summary: EvaluationSummary) -> list[str]:
    """Every constant answer, and the text baseline, on the metric they are compared on."""
    compared = gate_.reference_metric(summary.metric, _pairwise(summary.models))
    values = [f"{name} {value:.3f}"
              for name, value in constants(summary.models, summary.metric).items()]
    texts = [r for r in summary.references if r.evaluation.backend != CONSTANT_BACKEND]
    values += [f"{r.evaluation.model} {r.metric(compared):.3f} (fitted on the train split)"
               for r in texts]
    if not texts:
        values.append("no text baseline (no train split given)")
    return [f"References on {compared}: " + ", ".join(values) + "."]


def _signs_table(summary: EvaluationSummary) -> list[str]:
    """The collapse signs of every judge and reference, flagged judges named below."""
    lines = ["| model | most common answer | its share | entropy (bits) | parse rate |",
             "|---|---|---|---|---|"]
    for model in [*summary.models, *summary.references]:
        found = signs(model, summary.collapse_share)
        lines.append(f"| {model.label} | {found.top_answer or 'none'} | "
                     f"{found.top_share:.2f} | {found.entropy_bits:.2f} | "
                     f"{found.parse_rate:.2f} |")
    flagged = [f"**Collapsed:** {line}." for line in
               collapsed(summary.models, summary.collapse_share)]
    return ["## Collapse signs", "", *lines, *(["", *flagged] if flagged else [])]


def _gate(decision: GatedDecision | Decision | None) -> list[str]:
    """The gate's bars with their numbers: which passed, which failed, which only shown."""
    if not isinstance(decision, GatedDecision) or not decision.bars:
        return []
    lines = ["## The gate", "", "| bar | required | result | numbers |", "|---|---|---|---|"]
    for bar in decision.bars:
        result = "passed" if bar.passed else "**failed**"
        lines.append(f"| {bar.title} | {'yes' if bar.required else 'no (shown)'} | {result} | "
                     f"{bar.detail} |")
    if decision.order_flip_rate is not None:
        lines += ["", f"Position consistency: the winner flips with the order on "
                  f"{_percent(decision.order_flip_rate)} of the pairs checked."]
    return lines


def markdown(summary: EvaluationSummary) -> str:
    """The report page: settings, the metric tables with 95% CIs, the references, the
    collapse signs, the decision and the gate, the files."""
    lines = [f"# Evaluation: {summary.title}", "", *_tables(summary), "",
             *([*summary.sections, ""] if summary.sections else []),
             *_references(summary), "", *_signs_table(summary), ""]
    if summary.best is not None:
        best = summary.model(summary.best)
        lines += [f"**Best candidate:** {best.label} by {summary.metric} "
                  f"({best.metric(summary.metric):.4f}), `{best.model_dir}`.", "",
                  _decision(summary.decision), "", *_gate(summary.decision), "",
                  *_confusion(best), "",
                  f"## What {best.label} writes", "",
                  *[f"- `{text[:200]!r}`" for text in best.evaluation.completions[:EXAMPLES]],
                  ""]
    if summary.benchmarks:
        lines += [bench_report.markdown(summary.benchmarks), ""]
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
    references: list[EvaluatedModel] | None = None,
    collapse_share: float = 0.8,
    decisions: list[dict[str, Any]] | None = None,
    benchmarks: list[bench_report.BenchmarkResult] | None = None,
    sections: list[str] | None = None,
) -> EvaluationSummary:
    """Plots, report.md and summary.json in `out_dir`; the summary points at all of them.

    `references` are judgements that need no model (the text baseline), shown beside the
    judges; the best constant answer is added before them (score judges). `decisions`, the
    registry's so far, give a plot of the champion's metric over the runs; `benchmarks`,
    the public benchmark scores of the best candidate and the incumbent, a section;
    `sections`, markdown lines shown after the tables."""
    out_dir.mkdir(parents=True, exist_ok=True)
    constant = constant_reference(models, metric)
    references = [*([constant] if constant else []), *(references or [])]
    plots = {f"{metric} per step": plots_.metric_per_step_png(
        models, metric, out_dir / "metric_per_step.png", references)}
    if best is not None:
        plots[f"confusion matrix of {best.label}"] = plots_.confusion_png(
            best.evaluation.report, best.label, out_dir / "confusion_matrix.png")
    if training_metrics:
        plots["training reward"] = plots_.training_reward_png(
            training_metrics, out_dir / "training_reward.png")
    if decisions:
        plots["the champion over runs"] = history.trend_png(decisions, out_dir / "history.png")
    summary = EvaluationSummary(title=title, metric=metric, models=models,
                                references=references, best=best.label if best else None,
                                decision=decision, collapse_share=collapse_share, plots=plots,
                                report_path=out_dir / REPORT_FILE, benchmarks=benchmarks or [],
                                sections=sections or [])
    summary.report_path.write_text(markdown(summary), encoding="utf-8")
    (out_dir / SUMMARY_FILE).write_text(summary.model_dump_json(indent=2), encoding="utf-8")
    return summary
