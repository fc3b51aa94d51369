"""Pointwise judge metrics with bootstrap confidence intervals.

The promotion rule compares champion and challenger on the same validation rows, so the
paired bootstrap resamples row indices once and applies them to both models; a plain
per-model CI would ignore that the two models share the rows and be far too wide.

Unparsable predictions (None, NaN or -1, i.e. `UNPARSED`) are never dropped silently:
they count as wrong for `exact_accuracy` and `within1_accuracy`, as reward 0 in
`mean_reward` and in `parse_failure_rate`. Only the metrics that need a number,
`mae_parsed`, `rmse_parsed`, `pearson_parsed` and `spearman_parsed`, use parsed
predictions only - read them next to the parse-failure rate. Any other prediction outside
0..max_score is a caller bug and raises instead of being counted as a failure.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy.stats import rankdata

from rm_core.judge.rewards import pointwise_reward

UNPARSED = -1
"""The integer code of an unparsable prediction (what `compute_score` logs as `pred`)."""

UNPARSED_COLUMN = "unparsed"

ArrayLike = Sequence[Any] | np.ndarray
MetricFn = Callable[[np.ndarray, np.ndarray], float]

# Bounds the (resamples x n) index block held in memory at once (32 MiB of int64).
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


def _per_sample(p: np.ndarray, t: np.ndarray, max_score: int, k: float) -> dict[str, np.ndarray]:
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


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson r; NaN (no warning) for fewer than 2 points or a constant side."""
    if x.size < 2:
        return math.nan
    dx = x - x.mean()
    dy = y - y.mean()
    denom = math.sqrt(float(dx @ dx) * float(dy @ dy))
    if denom == 0.0:
        return math.nan
    return max(-1.0, min(1.0, float(dx @ dy) / denom))


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
    return float(np.mean(_per_sample(p, t, max_score, k)["reward"]))


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
    p, t = _parsed(pred, true, max_score)
    return _pearson(p.astype(float), t.astype(float))


def spearman_parsed(pred: ArrayLike, true: ArrayLike, max_score: int = 4) -> float:
    """Spearman rho (Pearson on average ranks) over parsed rows; NaN like `pearson_parsed`."""
    p, t = _parsed(pred, true, max_score)
    if p.size < 2:
        return math.nan
    return _pearson(rankdata(p), rankdata(t))


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


def _index_blocks(n: int, n_resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Resampled row indices in (rows, n) blocks; the same seed gives the same indices."""
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    rng = np.random.default_rng(seed)
    rows = max(1, _MAX_INDEX_CELLS // n)
    for start in range(0, n_resamples, rows):
        yield rng.integers(0, n, size=(min(rows, n_resamples - start), n))


def _bootstrap_stats(
    n: int, stat: Callable[[np.ndarray], np.ndarray], n_resamples: int, seed: int
) -> np.ndarray:
    """Statistic of every resample; `stat` maps an index block to one value per row."""
    return np.concatenate([stat(idx) for idx in _index_blocks(n, n_resamples, seed)])


def _rowwise(fn: Callable[[np.ndarray], float]) -> Callable[[np.ndarray], np.ndarray]:
    """Lift a per-resample statistic to an index block (the non-vectorised fallback)."""
    return lambda idx: np.array([fn(row) for row in idx], dtype=float)


def _percentile_interval(stats: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile interval; NaN resamples (e.g. constant correlation input) are skipped."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    finite = stats[~np.isnan(stats)]
    if finite.size == 0:
        return math.nan, math.nan
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(finite, [alpha, 1.0 - alpha])
    return float(low), float(high)


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

    `data` is either one array of per-sample values - the metric defaults to their mean,
    computed vectorised - or a tuple of equal-length columns such as (pred, true),
    resampled jointly and passed to `metric_fn(*columns)` once per resample.
    """
    if isinstance(data, tuple):
        columns = [_as_column(c) for c in data]
        n = columns[0].size
        if any(c.size != n for c in columns):
            raise ValueError("bootstrap columns differ in length")
        if metric_fn is None:
            raise ValueError("metric_fn is required for tuple data")
        stat = _rowwise(lambda row: metric_fn(*(c[row] for c in columns)))
    else:
        values = _as_column(data).astype(float)
        n = values.size
        stat = (
            _rowwise(lambda row: metric_fn(values[row]))
            if metric_fn is not None
            else lambda idx: values[idx].mean(axis=1)
        )
    if n == 0:
        raise ValueError("bootstrap needs at least one sample")
    return _percentile_interval(_bootstrap_stats(n, stat, n_resamples, seed), confidence)


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
    stat = _rowwise(lambda row: metric_fn(p_b[row], t[row]) - metric_fn(p_a[row], t[row]))
    low, high = _percentile_interval(_bootstrap_stats(t.size, stat, n_resamples, seed), confidence)
    return float(delta), low, high


# --- report --------------------------------------------------------------------------


class MetricValue(BaseModel):
    """A point estimate with its percentile bootstrap interval."""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="constants")

    value: float
    ci_low: float
    ci_high: float


class MetricReport(BaseModel):
    """Everything a pointwise evaluation reports, JSON-serialisable for the run artifacts
    (NaN, e.g. MAE with nothing parsed, is written as the JSON constant NaN)."""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="constants")

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


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with NaN where den is 0 (a resample with nothing parsed)."""
    out = np.full(num.shape, math.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _bootstrap_statistics(
    p: np.ndarray, t: np.ndarray, max_score: int, k: float
) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Index-block statistics per headline metric, vectorised except the correlations."""
    cols = _per_sample(p, t, max_score, k)

    def mean_of(name: str) -> Callable[[np.ndarray], np.ndarray]:
        return lambda idx: cols[name][idx].mean(axis=1)

    def parsed_mean(name: str) -> Callable[[np.ndarray], np.ndarray]:
        return lambda idx: _safe_ratio(cols[name][idx].sum(axis=1), cols["parsed"][idx].sum(axis=1))

    mse = parsed_mean("sq_error")
    return {
        "accuracy": mean_of("correct"),
        "within1_accuracy": mean_of("within1"),
        "mae_parsed": parsed_mean("abs_error"),
        "rmse_parsed": lambda idx: np.sqrt(mse(idx)),
        "mean_reward": mean_of("reward"),
        "parse_failure_rate": mean_of("unparsed"),
        "pearson_parsed": _rowwise(lambda row: pearson_parsed(p[row], t[row], max_score)),
        "spearman_parsed": _rowwise(lambda row: spearman_parsed(p[row], t[row], max_score)),
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
    for name, stat in _bootstrap_statistics(p, t, max_score, k).items():
        low, high = _percentile_interval(
            _bootstrap_stats(t.size, stat, n_resamples, seed), confidence
        )
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
