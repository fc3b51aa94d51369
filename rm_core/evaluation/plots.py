"""PNG plots saved with a run's evaluation report.

matplotlib's object API (`Figure`, no pyplot): no display, no global figure state, safe
in a worker thread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from rm_core.evaluation.metrics import MetricValue
from rm_core.evaluation.runner import JudgeReport
from rm_core.evaluation.stage import EvaluatedModel

TRAINING_REWARD = "reward mean"


def confusion_png(report: JudgeReport, title: str, path: Path) -> Path:
    """Rows: true label; columns: predicted label, the last one unparsed answers."""
    matrix = report.confusion_matrix
    figure = Figure(figsize=(5.5, 4.5))
    axes = figure.subplots()
    image = axes.imshow(matrix, cmap="Blues")
    dark = max(max(counts) for counts in matrix) / 2
    for row, counts in enumerate(matrix):
        for column, count in enumerate(counts):
            axes.text(column, row, str(count), ha="center", va="center", fontsize=8,
                      color="white" if count > dark else "black")
    axes.set_xticks(range(len(report.confusion_columns)), report.confusion_columns)
    axes.set_yticks(range(len(matrix)), report.confusion_rows)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    figure.colorbar(image, ax=axes)
    return _save(figure, path)


def metric_per_step_png(models: Sequence[EvaluatedModel], metric: str, path: Path,
                        references: Sequence[EvaluatedModel] = ()) -> Path:
    """The metric with its 95% CI per step (the base model at step 0), the champion as a
    band, the references (best constant, text baseline) as dotted lines."""
    figure = Figure(figsize=(6, 4))
    axes = figure.subplots()
    steps = sorted((m for m in models if m.kind in ("base", "checkpoint")),
                   key=lambda m: m.step or 0)
    values = [_with_interval(m, metric) for m in steps]
    errors = [[_gap(v.value, v.ci_low) for v in values], [_gap(v.ci_high, v.value) for v in values]]
    axes.errorbar([m.step for m in steps], [v.value for v in values], yerr=errors,
                  marker="o", capsize=4, label="base and checkpoints")
    for champion in (m for m in models if m.kind == "champion"):
        value = _with_interval(champion, metric)
        axes.axhline(value.value, color="tab:red", linestyle="--", label=champion.label)
        if not math.isnan(value.ci_low):
            axes.axhspan(value.ci_low, value.ci_high, color="tab:red", alpha=0.1)
    for reference, colour in zip(references, ("tab:gray", "tab:green", "tab:purple"),
                                 strict=False):
        value = reference.metric(metric)
        if not math.isnan(value):
            axes.axhline(value, color=colour, linestyle=":", label=reference.label)
    axes.set_xlabel("training step (0 = base model)")
    axes.set_ylabel(metric)
    axes.legend()
    return _save(figure, path)


def training_reward_png(metrics: Sequence[dict[str, float | int | None]], path: Path) -> Path:
    """verl's mean training reward per GRPO step, as the job logged it."""
    points = [(row["step"], row[TRAINING_REWARD]) for row in metrics
              if row.get(TRAINING_REWARD) is not None]
    figure = Figure(figsize=(6, 4))
    axes = figure.subplots()
    axes.plot([step for step, _ in points], [value for _, value in points], marker="o")
    axes.set_xlabel("training step")
    axes.set_ylabel("mean reward of the rollouts")
    axes.set_title("training reward")
    return _save(figure, path)


def _with_interval(model: EvaluatedModel, metric: str) -> MetricValue:
    """The metric with its CI; a figure reported without one gets NaN bounds (no error bar)."""
    interval = model.evaluation.report.intervals().get(metric)
    return interval or MetricValue(value=model.metric(metric), ci_low=math.nan,
                                   ci_high=math.nan)


def _gap(high: float, low: float) -> float:
    return 0.0 if math.isnan(high) or math.isnan(low) else max(high - low, 0.0)


def _save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return path
