"""Evaluation metrics against hand-computed values, and the bootstrap on known cases."""

from __future__ import annotations

import json
import math
import warnings
from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import pearsonr, spearmanr

from rm_core.evaluation import (
    UNPARSED,
    bootstrap_ci,
    confusion_matrix,
    evaluate_pointwise,
    exact_accuracy,
    mean_reward,
    paired_bootstrap_delta,
    pearson_parsed,
    per_label_recall,
    pointwise_metrics,
    spearman_parsed,
    within1_accuracy,
)

PRED = [0, 1, 2, None, 4]
TRUE = [0, 2, 2, 3, 3]

# Parsed rows: pred [0, 1, 2, 4] vs true [0, 2, 2, 3]; errors 0, 1, 0, 1 (row 3 unparsed).
# Pearson: both means 1.75; sum dp*dt = 5.75, sum dp^2 = 8.75, sum dt^2 = 4.75.
# Spearman: ranks [1, 2, 3, 4] vs [1, 2.5, 2.5, 4]; sum = 4.5, sum dp^2 = 5, sum dt^2 = 4.5.
EXPECTED = {
    "accuracy": 2 / 5,
    "within1_accuracy": 4 / 5,
    "mae_parsed": 2 / 4,
    "rmse_parsed": math.sqrt(2 / 4),
    "mean_reward": (1 + math.exp(-0.5) + 1 + 0 + math.exp(-0.5)) / 5,
    "parse_failure_rate": 1 / 5,
    "pearson_parsed": 5.75 / math.sqrt(8.75 * 4.75),
    "spearman_parsed": 4.5 / math.sqrt(5 * 4.5),
}


def test_point_metrics_match_hand_computed_values() -> None:
    got = pointwise_metrics(PRED, TRUE, max_score=4, k=2.0)
    assert got.keys() == EXPECTED.keys()
    for name, value in EXPECTED.items():
        assert got[name] == pytest.approx(value), name


def test_correlations_agree_with_scipy_on_parsed_rows() -> None:
    p, t = [0, 1, 2, 4], [0, 2, 2, 3]
    assert pearson_parsed(PRED, TRUE) == pytest.approx(pearsonr(p, t)[0])
    assert spearman_parsed(PRED, TRUE) == pytest.approx(spearmanr(p, t)[0])


def test_reward_uses_k_and_max_score() -> None:
    # |error| 2 on a 0..10 scale with k=3: exp(-3 * 2 / 10); unparsed row scores 0.
    assert mean_reward([7, -1], [5, 5], max_score=10, k=3.0) == pytest.approx(math.exp(-0.6) / 2)


def test_none_nan_and_minus_one_are_the_same_unparsed_prediction() -> None:
    as_minus_one = pointwise_metrics([0, 1, 2, UNPARSED, 4], TRUE)
    as_nan = pointwise_metrics(np.array([0, 1, 2, np.nan, 4]), TRUE)
    assert as_minus_one == pytest.approx(pointwise_metrics(PRED, TRUE))
    assert as_nan == pytest.approx(as_minus_one)


def test_unparsed_is_wrong_even_when_within_one_of_label_zero() -> None:
    # -1 is numerically within 1 of label 0; it must still count as a miss.
    assert within1_accuracy([UNPARSED], [0]) == 0.0
    assert exact_accuracy([None, None], [0, 1]) == 0.0


@pytest.mark.parametrize(
    ("pred", "true", "message"),
    [
        ([5], [1], "predictions must lie"),
        ([-2], [1], "predictions must lie"),
        ([1], [5], "true labels"),
        ([1], [None], "missing"),
        ([1, 2], [1], "differ in length"),
        ([], [], "at least one"),
        ([1.5], [1], "non-integer"),
    ],
)
def test_invalid_inputs_raise(pred: list, true: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        pointwise_metrics(pred, true)


@pytest.mark.parametrize(
    ("pred", "true"),
    [
        ([2, None, None], [1, 2, 3]),
        ([None, None], [1, 2]),
        ([3, 3, 3], [0, 1, 2]),
        ([0, 1, 2], [2, 2, 2]),
    ],
)
def test_correlations_are_nan_without_warnings_on_degenerate_input(pred: list, true: list) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = pointwise_metrics(pred, true)
    assert math.isnan(got["pearson_parsed"])
    assert math.isnan(got["spearman_parsed"])


def test_nothing_parsed_gives_nan_errors_and_full_failure_rate() -> None:
    got = pointwise_metrics([None, None], [1, 2])
    assert math.isnan(got["mae_parsed"]) and math.isnan(got["rmse_parsed"])
    assert got["parse_failure_rate"] == 1.0
    assert got["mean_reward"] == 0.0


def test_confusion_matrix_rows_true_cols_pred_then_unparsed() -> None:
    assert confusion_matrix(PRED, TRUE) == [
        [1, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0],
        [0, 1, 1, 0, 0, 0],
        [0, 0, 0, 0, 1, 1],
        [0, 0, 0, 0, 0, 0],
    ]


def test_per_label_recall_counts_unparsed_as_miss_and_none_for_absent_labels() -> None:
    assert per_label_recall(PRED, TRUE) == {0: 1.0, 1: None, 2: 0.5, 3: 0.0, 4: None}


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 6).flatmap(
        lambda m: st.tuples(
            st.just(m),
            st.lists(
                st.tuples(st.one_of(st.none(), st.integers(0, m)), st.integers(0, m)),
                min_size=1,
                max_size=40,
            ),
        )
    )
)
def test_metric_invariants(case: tuple[int, list[tuple[int | None, int]]]) -> None:
    max_score, rows = case
    pred, true = [r[0] for r in rows], [r[1] for r in rows]
    got = pointwise_metrics(pred, true, max_score=max_score)
    matrix = np.array(confusion_matrix(pred, true, max_score=max_score))
    assert 0.0 <= got["accuracy"] <= 1.0
    assert got["within1_accuracy"] >= got["accuracy"]
    assert 0.0 <= got["mean_reward"] <= 1.0
    assert matrix.shape == (max_score + 1, max_score + 2)
    assert matrix.sum() == len(rows)
    assert matrix[:, -1].sum() == sum(p is None for p in pred)
    assert np.trace(matrix[:, :-1]) / len(rows) == pytest.approx(got["accuracy"])


def test_bootstrap_of_a_constant_metric_has_zero_width() -> None:
    assert bootstrap_ci(np.full(50, 0.3)) == (pytest.approx(0.3), pytest.approx(0.3))
    low, high = bootstrap_ci(([1, 2, 3], [1, 2, 4]), lambda p, t: 0.25)
    assert low == high == 0.25


def _bernoulli_case(n: int, p: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and predictions that are right with probability p, wrong by +1 otherwise."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, 5, n)
    right = rng.random(n) < p
    return np.where(right, true, (true + 1) % 5), true


def test_bootstrap_ci_of_bernoulli_accuracy_has_the_normal_width() -> None:
    n = 4000
    pred, true = _bernoulli_case(n, 0.7, seed=1)
    low, high = bootstrap_ci((pred == true).astype(float), n_resamples=2000, seed=3)
    assert low < 0.7 < high
    assert high - low == pytest.approx(2 * 1.96 * math.sqrt(0.21 / n), rel=0.1)


def test_vectorised_and_generic_bootstrap_paths_agree() -> None:
    pred, true = _bernoulli_case(300, 0.7, seed=2)
    fast = bootstrap_ci((pred == true).astype(float), seed=5)
    slow = bootstrap_ci((pred, true), exact_accuracy, seed=5)
    assert fast == pytest.approx(slow)


def test_bootstrap_is_deterministic_for_a_seed_and_varies_across_seeds() -> None:
    values = np.random.default_rng(0).random(200)
    assert bootstrap_ci(values, seed=7) == bootstrap_ci(values, seed=7)
    assert bootstrap_ci(values, seed=7) != bootstrap_ci(values, seed=8)


def test_higher_confidence_gives_a_wider_interval() -> None:
    values = np.random.default_rng(0).random(200)
    low90, high90 = bootstrap_ci(values, confidence=0.90)
    low99, high99 = bootstrap_ci(values, confidence=0.99)
    assert low99 < low90 < high90 < high99


def test_paired_bootstrap_of_identical_models_is_exactly_zero() -> None:
    pred, true = _bernoulli_case(200, 0.6, seed=4)
    assert paired_bootstrap_delta(pred, pred, true, exact_accuracy, n_resamples=300) == (
        0.0,
        0.0,
        0.0,
    )


def _models(n: int, right_a: range, right_b: range) -> tuple[np.ndarray, ...]:
    """Labels 2; each model exactly right on its rows, off by one elsewhere."""
    true = np.full(n, 2)
    a, b = np.full(n, 3), np.full(n, 3)
    a[list(right_a)] = 2
    b[list(right_b)] = 2
    return a, b, true


def test_paired_bootstrap_lower_bound_positive_for_a_strictly_better_model() -> None:
    # b is right on every row a gets right plus 25 more: delta 25/500 = 0.05.
    a, b, true = _models(500, range(350), range(375))
    delta, low, high = paired_bootstrap_delta(a, b, true, exact_accuracy, n_resamples=500)
    assert delta == pytest.approx(0.05)
    assert 0.0 < low < delta < high


def test_paired_bootstrap_straddles_zero_for_models_equal_up_to_noise() -> None:
    # Same 350/500 right, 10 rows swapped each way: delta exactly 0, CI across it.
    a, b, true = _models(500, range(350), [*range(340), *range(350, 360)])
    delta, low, high = paired_bootstrap_delta(a, b, true, exact_accuracy, n_resamples=500)
    assert delta == 0.0
    assert low < 0.0 < high


def test_paired_bootstrap_is_tighter_than_unpaired_intervals() -> None:
    # The point of pairing: shared rows cancel, so the delta CI is far narrower than
    # either model's own accuracy CI.
    a, b, true = _models(500, range(350), range(375))
    _, low, high = paired_bootstrap_delta(a, b, true, exact_accuracy, n_resamples=500)
    own_low, own_high = bootstrap_ci((a, true), exact_accuracy, n_resamples=500)
    assert high - low < 0.5 * (own_high - own_low)


def test_paired_bootstrap_passes_bound_metric_settings() -> None:
    reward = partial(mean_reward, max_score=10, k=1.0)
    delta, _, _ = paired_bootstrap_delta(
        [0, 0], [10, None], [10, 10], reward, n_resamples=50, max_score=10
    )
    # challenger (1 + 0) / 2, champion exp(-1 * 10 / 10) on both rows
    assert delta == pytest.approx(0.5 - math.exp(-1.0))


def test_evaluate_pointwise_bundles_values_and_consistent_intervals() -> None:
    pred, true = _bernoulli_case(400, 0.7, seed=6)
    pred = pred.astype(object)
    pred[:20] = None
    report = evaluate_pointwise(pred, true, n_resamples=300, seed=9)
    point = pointwise_metrics(pred, true)
    assert report.n == 400 and report.n_parsed == 380
    assert report.metrics.keys() == point.keys()
    for name, metric in report.metrics.items():
        assert metric.value == pytest.approx(point[name]), name
        assert metric.ci_low <= metric.value <= metric.ci_high, name
    # Same seed -> same rows as the generic bootstrap of the same metric.
    accuracy = report.metrics["accuracy"]
    assert (accuracy.ci_low, accuracy.ci_high) == pytest.approx(
        bootstrap_ci((pred, true), exact_accuracy, n_resamples=300, seed=9)
    )
    assert report.confusion_matrix == confusion_matrix(pred, true)
    assert report.confusion_columns[-1] == "unparsed"
    assert json.loads(report.model_dump_json())["metrics"]["accuracy"]["value"] == (
        pytest.approx(point["accuracy"])
    )
