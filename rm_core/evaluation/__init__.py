"""Evaluation: judge metrics, bootstrap CIs and the paired comparison used for promotion."""

from rm_core.evaluation.metrics import (
    UNPARSED,
    MetricValue,
    bootstrap_ci,
    confusion_columns,
    confusion_matrix,
    exact_accuracy,
    mae_parsed,
    mean_reward,
    normalise,
    paired_bootstrap_delta,
    parse_failure_rate,
    pearson_parsed,
    per_label_recall,
    pointwise_metrics,
    rmse_parsed,
    spearman_parsed,
    within1_accuracy,
)
from rm_core.evaluation.pointwise import MetricReport, evaluate_pointwise

__all__ = [
    "UNPARSED",
    "MetricReport",
    "MetricValue",
    "bootstrap_ci",
    "confusion_columns",
    "confusion_matrix",
    "evaluate_pointwise",
    "exact_accuracy",
    "mae_parsed",
    "mean_reward",
    "normalise",
    "paired_bootstrap_delta",
    "parse_failure_rate",
    "pearson_parsed",
    "per_label_recall",
    "pointwise_metrics",
    "rmse_parsed",
    "spearman_parsed",
    "within1_accuracy",
]
