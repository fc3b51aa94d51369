"""A score judge's report: every metric of `metrics.pointwise_metrics` with its bootstrap
CI (the same resampled rows for every metric), the confusion matrix and per-label recall.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from rm_core.evaluation.metrics import (
    UNPARSED,
    ArrayLike,
    MetricValue,
    Statistic,
    confusion_columns,
    confusion_matrix,
    each_resample,
    normalise,
    pearson_parsed,
    per_label_recall,
    per_sample,
    percentile_interval,
    pointwise_metrics,
    spearman_parsed,
)


class MetricReport(BaseModel):
    """Everything a pointwise evaluation reports, JSON-serialisable for the run artifacts
    (NaN, e.g. MAE with nothing parsed, is written as the JSON constant NaN)."""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="constants")

    kind: Literal["pointwise"] = "pointwise"
    n: int
    n_parsed: int
    max_score: int
    k: float
    n_resamples: int
    confidence: float
    seed: int
    metrics: dict[str, MetricValue]
    confusion_matrix: list[list[int]]
    confusion_columns: list[str]
    per_label_recall: dict[int, float | None]

    @property
    def confusion_rows(self) -> list[str]:
        """Row labels of the confusion matrix: the true scores."""
        return [str(label) for label in range(self.max_score + 1)]

    def headline(self) -> dict[str, float]:
        """Every metric's value by name: what tables, W&B and the registry record."""
        return {name: metric.value for name, metric in self.metrics.items()}

    def intervals(self) -> dict[str, MetricValue]:
        """The metrics with their bootstrap intervals (all of them)."""
        return dict(self.metrics)


def _parsed_mean(total: np.ndarray, parsed: np.ndarray, axis: int = -1) -> np.ndarray:
    """sum(total) / sum(parsed) per resample; NaN where a resample has nothing parsed."""
    num, den = total.sum(axis=axis), parsed.sum(axis=axis)
    out = np.full(num.shape, math.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _bootstrap_statistics(
    p: np.ndarray, t: np.ndarray, max_score: int, k: float
) -> dict[str, tuple[tuple[np.ndarray, ...], Statistic]]:
    """(columns, statistic) per headline metric, vectorised except the correlations."""
    cols = per_sample(p, t, max_score, k)

    def correlation(metric: Callable[..., float]) -> tuple[tuple[np.ndarray, ...], Statistic]:
        return (p, t), each_resample(lambda pred, true: metric(pred, true, max_score))

    return {
        "accuracy": ((cols["correct"],), np.mean),
        "within1_accuracy": ((cols["within1"],), np.mean),
        "mae_parsed": ((cols["abs_error"], cols["parsed"]), _parsed_mean),
        "rmse_parsed": ((cols["sq_error"], cols["parsed"]),
                        lambda sq, parsed, axis=-1: np.sqrt(_parsed_mean(sq, parsed, axis))),
        "mean_reward": ((cols["reward"],), np.mean),
        "parse_failure_rate": ((cols["unparsed"],), np.mean),
        "pearson_parsed": correlation(pearson_parsed),
        "spearman_parsed": correlation(spearman_parsed),
    }


def evaluate_pointwise(
    pred: ArrayLike,
    true: ArrayLike,
    max_score: int = 4,
    k: float = 2.0,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> MetricReport:
    """Headline metrics with bootstrap CIs (the same resampled rows for every metric)."""
    p, t = normalise(pred, true, max_score)
    values = pointwise_metrics(p, t, max_score, k)
    metrics = {}
    for name, (columns, statistic) in _bootstrap_statistics(p, t, max_score, k).items():
        low, high = percentile_interval(columns, statistic, n_resamples, confidence, seed)
        metrics[name] = MetricValue(value=values[name], ci_low=low, ci_high=high)
    return MetricReport(
        n=int(t.size),
        n_parsed=int(np.sum(p != UNPARSED)),
        max_score=max_score,
        k=k,
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
        metrics=metrics,
        confusion_matrix=confusion_matrix(p, t, max_score),
        confusion_columns=confusion_columns(max_score),
        per_label_recall=per_label_recall(p, t, max_score),
    )
