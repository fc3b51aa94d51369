"""Judge metrics of scores and the bootstrap behind every confidence interval.

The statistics come from scipy: `scipy.stats.bootstrap` (percentile intervals, rows
resampled with `paired=True`), `pearsonr` and `spearmanr`. The promotion rule compares
champion and challenger on the same validation rows, so the paired bootstrap resamples
row indices once and applies them to both models; a plain per-model CI would ignore
that the two models share the rows and be far too wide.

Unparsable predictions (None, NaN or -1, i.e. `UNPARSED`) are never dropped silently:
they count as wrong for `exact_accuracy` and `within1_accuracy`, as reward 0 in
`mean_reward` and in `parse_failure_rate`. Only the metrics that need a number,
`mae_parsed`, `rmse_parsed`, `pearson_parsed` and `spearman_parsed`, use parsed
predictions only - read them next to the parse-failure rate. Any other prediction outside
0..max_score is a caller bug and raises instead of being counted as a failure.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy import stats

from rm_core.judge.rewards import pointwise_reward

UNPARSED = -1
"""The integer code of an unparsable prediction (what `compute_score` logs as `pred`)."""

UNPARSED_COLUMN = "unparsed"

ArrayLike = Sequence[Any] | np.ndarray
MetricFn = Callable[[np.ndarray, np.ndarray], float]

Statistic = Callable[..., np.ndarray]  # statistic(*columns, axis=-1), one value per resample

# Bounds the (resamples x n) index batch held in memory at once (32 MiB of int64).
_MAX_INDEX_CELLS = 1 << 22


# --- input normalisation -------------------------------------------------------------


def _as_int_array(values: ArrayLike, name: str, allow_missing: bool) -> np.ndarray:
    """1-D int64 array; None/NaN become UNPARSED when allowed, non-integers raise."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype == object:
        arr = np.array([np.nan if x is None else x for x in arr], dtype=float)
    if arr.dtype.kind == "f":
        missing = np.isnan(arr)
        if missing.any() and not allow_missing:
            raise ValueError(f"{name} has missing values")
        present = arr[~missing]
        if not np.array_equal(present, np.round(present)):
            raise ValueError(f"{name} has non-integer values")
        return np.where(missing, UNPARSED, arr).astype(np.int64)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")


def normalise(
    pred: ArrayLike, true: ArrayLike, max_score: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """(pred, true) as int64 arrays with UNPARSED for failures, validated once up front."""
    if max_score < 1:
        raise ValueError(f"max_score must be >= 1, got {max_score}")
    p = _as_int_array(pred, "pred", allow_missing=True)
    t = _as_int_array(true, "true", allow_missing=False)
    if p.shape != t.shape:
        raise ValueError(f"pred and true differ in length: {p.size} != {t.size}")
    if p.size == 0:
        raise ValueError("metrics need at least one sample")
    if ((t < 0) | (t > max_score)).any():
        raise ValueError(f"true labels must lie in 0..{max_score}")
    if ((p != UNPARSED) & ((p < 0) | (p > max_score))).any():
        raise ValueError(f"predictions must lie in 0..{max_score} or be None/-1 (unparsed)")
    return p, t


# --- per-sample building blocks ------------------------------------------------------


def _reward_table(max_score: int, k: float) -> np.ndarray:
    """Reward by absolute error, from `pointwise_reward` itself so training and eval agree."""
    return np.array([pointwise_reward(d, 0, k, max_score) for d in range(max_score + 1)])


def per_sample(p: np.ndarray, t: np.ndarray, max_score: int, k: float) -> dict[str, np.ndarray]:
    """Per-row float columns whose means (or ratios of sums) are the headline metrics."""
    parsed = p != UNPARSED
    error = np.where(parsed, np.abs(p - t), 0)
    return {
        "correct": (p == t).astype(float),
        "within1": (parsed & (error <= 1)).astype(float),
        "reward": np.where(parsed, _reward_table(max_score, k)[error], 0.0),
        "unparsed": (~parsed).astype(float),
        "parsed": parsed.astype(float),
        "abs_error": error.astype(float),
        "sq_error": (error**2).astype(float),
    }


def correlation(coefficient: Callable[..., Any], x: np.ndarray, y: np.ndarray) -> float:
    """scipy's coefficient; NaN for fewer than 2 points or a constant side, where it is
    undefined (a judge that always answers the same score) and scipy would warn."""
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(coefficient(x, y).statistic)


# --- point metrics -------------------------------------------------------------------


def exact_accuracy(pred: ArrayLike, true: ArrayLike, max_score: int = 4) -> float:
    """Share of rows predicted exactly; unparsed rows count as wrong."""
    p, t = normalise(pred, true, max_score)
    return float(np.mean(p == t))


def within1_accuracy(pred: ArrayLike, true: ArrayLike, max_score: int = 4) -> float:
    """Share of rows off by at most 1; unparsed rows count as wrong."""
    p, t = normalise(pred, true, max_score)
    return float(np.mean((p != UNPARSED) & (np.abs(p - t) <= 1)))


def parse_failure_rate(pred: ArrayLike, true: ArrayLike, max_score: int = 4) -> float:
    """Share of rows whose judgement could not be parsed."""
    p, _ = normalise(pred, true, max_score)
    return float(np.mean(p == UNPARSED))


def mean_reward(pred: ArrayLike, true: ArrayLike, max_score: int = 4, k: float = 2.0) -> float:
    """Mean training reward (`pointwise_reward`); unparsed rows score 0 as in training."""
    p, t = normalise(pred, true, max_score)
    return float(np.mean(per_sample(p, t, max_score, k)["reward"]))


def _parsed(pred: ArrayLike, true: ArrayLike, max_score: int) -> tuple[np.ndarray, np.ndarray]:
    p, t = normalise(pred, true, max_score)
    keep = p != UNPARSED
    return p[keep], t[keep]


def mae_parsed(pred: ArrayLike, true: ArrayLike, max_score: int = 4) -> float:
    """Mean absolute error over parsed rows only; NaN when nothing parsed."""
    p, t = _parsed(pred, true, max_score)
    return float(np.mean(np.abs(p - t))) if p.size else math.nan


def rmse_parsed(pred: ArrayLike, true: ArrayLike, max_score: int = 4) -> float:
    """Root mean squared error over parsed rows only; NaN when nothing parsed."""
    p, t = _parsed(pred, true, max_score)
    return math.sqrt(float(np.mean((p - t) ** 2))) if p.size else math.nan


def pearson_parsed(pred: ArrayLike, true: ArrayLike, max_score: int = 4) -> float:
    """Pearson r over parsed rows; NaN for < 2 parsed rows or constant input."""
    return correlation(stats.pearsonr, *_parsed(pred, true, max_score))


def spearman_parsed(pred: ArrayLike, true: ArrayLike, max_score: int = 4) -> float:
    """Spearman rho over parsed rows; NaN like `pearson_parsed`."""
    return correlation(stats.spearmanr, *_parsed(pred, true, max_score))


def pointwise_metrics(
    pred: ArrayLike, true: ArrayLike, max_score: int = 4, k: float = 2.0
) -> dict[str, float]:
    """All headline point metrics, keyed as in `MetricReport.metrics`."""
    return {
        "accuracy": exact_accuracy(pred, true, max_score),
        "within1_accuracy": within1_accuracy(pred, true, max_score),
        "mae_parsed": mae_parsed(pred, true, max_score),
        "rmse_parsed": rmse_parsed(pred, true, max_score),
        "mean_reward": mean_reward(pred, true, max_score, k),
        "parse_failure_rate": parse_failure_rate(pred, true, max_score),
        "pearson_parsed": pearson_parsed(pred, true, max_score),
        "spearman_parsed": spearman_parsed(pred, true, max_score),
    }


def confusion_matrix(pred: ArrayLike, true: ArrayLike, max_score: int = 4) -> list[list[int]]:
    """Counts with rows = true 0..max_score, cols = predicted 0..max_score then "unparsed"."""
    p, t = normalise(pred, true, max_score)
    n_cols = max_score + 2
    col = np.where(p == UNPARSED, max_score + 1, p)
    counts = np.bincount(t * n_cols + col, minlength=(max_score + 1) * n_cols)
    return counts.reshape(max_score + 1, n_cols).tolist()


def confusion_columns(max_score: int = 4) -> list[str]:
    """Column labels of `confusion_matrix`."""
    return [*map(str, range(max_score + 1)), UNPARSED_COLUMN]


def per_label_recall(
    pred: ArrayLike, true: ArrayLike, max_score: int = 4
) -> dict[int, float | None]:
    """Recall of each true label (unparsed = miss); None for labels absent from `true`."""
    matrix = confusion_matrix(pred, true, max_score)
    return {
        label: (row[label] / sum(row) if sum(row) else None) for label, row in enumerate(matrix)
    }


# --- bootstrap -----------------------------------------------------------------------


def percentile_interval(columns: tuple[np.ndarray, ...], statistic: Statistic,
                        n_resamples: int, confidence: float, seed: int) -> tuple[float, float]:
    """Percentile bootstrap interval of `statistic` over rows, the columns resampled together.

    The same seed draws the same rows for any statistic. Resamples where the statistic is
    undefined (NaN: nothing parsed, constant correlation input) are left out of the
    percentiles rather than making the whole interval NaN.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    n = columns[0].size
    if n == 1:  # scipy needs two rows; every resample of one row is that row
        value = float(statistic(*(column[np.newaxis] for column in columns), axis=-1)[0])
        return value, value
    with warnings.catch_warnings():  # scipy warns when a NaN resample makes the CI NaN
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        result = stats.bootstrap(
            columns, statistic, n_resamples=n_resamples, batch=max(1, _MAX_INDEX_CELLS // n),
            vectorized=True, paired=True, confidence_level=confidence, method="percentile",
            rng=np.random.default_rng(seed),
        )  # fmt: skip
    resampled = result.bootstrap_distribution
    if not np.isnan(resampled).any():
        return float(result.confidence_interval.low), float(result.confidence_interval.high)
    finite = resampled[~np.isnan(resampled)]
    if finite.size == 0:
        return math.nan, math.nan
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(finite, [alpha, 1.0 - alpha])
    return float(low), float(high)


def each_resample(fn: Callable[..., float]) -> Statistic:
    """A statistic of one resample's columns, applied to each resample of a batch."""
    return lambda *columns, axis=-1: np.array([fn(*row) for row in zip(*columns, strict=True)],
                                              dtype=float)


def _as_column(values: ArrayLike) -> np.ndarray:
    """A resampling column; None becomes UNPARSED so (pred, true) tuples index cheaply."""
    arr = np.asarray(values)
    if arr.dtype == object:
        arr = np.asarray([UNPARSED if x is None else x for x in arr])
    if arr.ndim != 1:
        raise ValueError(f"bootstrap columns must be one-dimensional, got shape {arr.shape}")
    return arr


def bootstrap_ci(
    data: ArrayLike | tuple[ArrayLike, ...],
    metric_fn: Callable[..., float] | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap CI over samples (rows).

    `data` is either one array of per-sample values - `metric_fn(values)` of each
    resample, by default their mean (vectorised) - or a tuple of equal-length columns
    such as (pred, true), resampled jointly and passed to `metric_fn(*columns)`.
    """
    if isinstance(data, tuple):
        columns = tuple(_as_column(c) for c in data)
        if any(c.size != columns[0].size for c in columns):
            raise ValueError("bootstrap columns differ in length")
        if metric_fn is None:
            raise ValueError("metric_fn is required for tuple data")
        statistic = each_resample(metric_fn)
    else:
        columns = (_as_column(data).astype(float),)
        statistic = np.mean if metric_fn is None else each_resample(metric_fn)
    if columns[0].size == 0:
        raise ValueError("bootstrap needs at least one sample")
    return percentile_interval(columns, statistic, n_resamples, confidence, seed)


def paired_bootstrap_delta(
    pred_a: ArrayLike,
    pred_b: ArrayLike,
    true: ArrayLike,
    metric_fn: MetricFn,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    max_score: int = 4,
) -> tuple[float, float, float]:
    """(delta, low, high) for metric(b) - metric(a), both scored on the same resampled rows.

    a is the champion, b the challenger: promote only if `low > 0`. `metric_fn(pred, true)`
    receives normalised int arrays (UNPARSED = -1); bind its `max_score`/`k` with
    functools.partial when they differ from the defaults.
    """
    p_a, t = normalise(pred_a, true, max_score)
    p_b, _ = normalise(pred_b, true, max_score)
    delta = metric_fn(p_b, t) - metric_fn(p_a, t)
    statistic = each_resample(lambda a, b, t: metric_fn(b, t) - metric_fn(a, t))
    low, high = percentile_interval((p_a, p_b, t), statistic, n_resamples, confidence, seed)
    return float(delta), low, high


class MetricValue(BaseModel):
    """A point estimate with its percentile bootstrap interval."""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="constants")

    value: float
    ci_low: float
    ci_high: float
