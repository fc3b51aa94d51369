"""The reported figures against the ones recorded before the statistics moved to scipy.

`eval_metrics_recorded.json` holds what the hand-written bootstrap, correlations and
confusion matrix of commit 86be52d reported on the inputs built below. Point estimates
must be equal (correlations to 1e-12: scipy's formula rounds differently in the last
bits). Interval bounds get 1e-9: scipy draws the same resample indices as the old code
(`rng.integers(0, n, (batch, n))` from `default_rng(seed)`, in batches of the same size)
and takes the same linear-interpolation percentiles, so the bounds agree up to rounding;
a different resampling order would move them by the Monte Carlo error instead (~0.01 at
1000 resamples), which this tolerance would catch.
"""

from __future__ import annotations

import json
import math
import warnings
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rm_core.evaluation.metrics import (
    bootstrap_ci,
    exact_accuracy,
    mae_parsed,
    mean_reward,
    paired_bootstrap_delta,
    spearman_parsed,
)
from rm_core.evaluation.pairwise import PairJudgement, preference_metrics
from rm_core.evaluation.pointwise import evaluate_pointwise
from rm_core.evaluation.registry import Baseline, decide

RECORDED = Path(__file__).with_name("eval_metrics_recorded.json")
CORRELATIONS = {"pearson_parsed", "spearman_parsed"}


def _random_case(n: int, max_score: int, unparsed: float, seed: int) -> tuple[list, list]:
    """Labels and predictions near them, a share of them unparsed (None)."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, max_score + 1, n)
    pred = np.clip(true + rng.integers(-1, 2, n), 0, max_score).astype(object)
    pred[rng.random(n) < unparsed] = None
    return pred.tolist(), true.tolist()


def pointwise_cases() -> dict[str, dict[str, Any]]:
    """Inputs of `evaluate_pointwise`, from hand-made edge cases to 5000 rows (several
    resampling batches)."""
    one_value = [2] * 40
    return {
        "hand-made": {"pred": [0, 1, 2, None, 4], "true": [0, 2, 2, 3, 3]},
        "random": dict(zip(("pred", "true"), _random_case(300, 4, 0.1, 1), strict=True),
                       seed=3),
        "scale 0..10, k 3": dict(zip(("pred", "true"), _random_case(50, 10, 0.05, 2),
                                     strict=True), max_score=10, k=3.0, seed=1),
        "one predicted value": {"pred": one_value,
                                "true": _random_case(40, 4, 0.0, 3)[1]},
        "nothing parsed": {"pred": [None] * 10, "true": list(range(5)) * 2},
        "mostly unparsed": {"pred": [3, 1, *[None] * 28], "true": [3, 2, *range(4)] * 5},
        "two rows": {"pred": [1, 3], "true": [1, 4], "seed": 5},
        "one row": {"pred": [2], "true": [3]},
        "5000 rows": dict(zip(("pred", "true"), _random_case(5000, 4, 0.02, 4), strict=True)),
    }


def _judgements(n: int, seed: int) -> list[PairJudgement]:
    rng = np.random.default_rng(seed)
    verdicts = ["A", "B", "tie", None]
    return [PairJudgement(prompt_id=f"p{i // 2}", first="x", second="y",
                          verdict=verdicts[rng.choice(4, p=[0.5, 0.3, 0.1, 0.1])],
                          truth=verdicts[rng.choice(3, p=[0.5, 0.4, 0.1])])
            for i in range(n)]


def _figure(value: float, low: float, high: float) -> dict[str, Any]:
    return {"value": value, "ci": [low, high]}


def outputs() -> dict[str, Any]:
    """Every figure compared with the recording, computed with the current code."""
    result: dict[str, Any] = {"pointwise": {}}
    for name, case in pointwise_cases().items():
        report = evaluate_pointwise(**case)
        result["pointwise"][name] = {
            "metrics": {k: _figure(v.value, v.ci_low, v.ci_high)
                        for k, v in report.metrics.items()},
            "confusion_matrix": report.confusion_matrix,
            "per_label_recall": {str(k): v for k, v in report.per_label_recall.items()},
        }
    values = np.random.default_rng(5).random(200)
    pred, true = _random_case(400, 4, 0.1, 6)
    result["bootstrap_ci"] = {
        "mean": {"ci": list(bootstrap_ci(values, seed=7))},
        "mean, 90%": {"ci": list(bootstrap_ci(values, confidence=0.9, seed=7))},
        "median": {"ci": list(bootstrap_ci(values, np.median, n_resamples=500, seed=2))},
        "accuracy of (pred, true)": {
            "ci": list(bootstrap_ci((pred, true), exact_accuracy, seed=4))},
    }
    challenger, _ = _random_case(400, 4, 0.05, 7)
    result["paired_bootstrap_delta"] = {
        name: _figure(*paired_bootstrap_delta(pred, challenger, true, fn, **kw))
        for name, fn, kw in [
            ("accuracy", exact_accuracy, {}),
            ("mean reward k 1", partial(mean_reward, k=1.0), {"n_resamples": 400, "seed": 3}),
            ("minus MAE", lambda p, t: -mae_parsed(p, t), {"seed": 1}),
            ("spearman_parsed", spearman_parsed, {"n_resamples": 300, "seed": 2}),
        ]
    }
    ids = [f"row-{i}" for i in range(len(true))]
    baseline = Baseline(predictions=[p if p is not None else -1 for p in pred], unique_ids=ids)
    result["decide"] = {}
    for metric in ("mean_reward", "accuracy", "mae_parsed", "pearson_parsed"):
        decision = decide(challenger, true, ids, None, metric=metric, n_resamples=500, seed=11,
                          baseline=baseline)
        result["decide"][metric] = {
            "values": [decision.challenger_value, decision.champion_value, decision.delta],
            "ci": [decision.ci_low, decision.ci_high], "promote": decision.promote}
    accuracy = preference_metrics(_judgements(60, 8), n_resamples=500, seed=4).accuracy
    result["pairwise accuracy"] = _figure(accuracy.value, accuracy.ci_low, accuracy.ci_high)
    return result


def _close(got: Any, want: Any, path: str, tolerance: float) -> None:
    """Equal numbers, or within `tolerance`; NaN equals NaN."""
    if isinstance(want, float) and math.isnan(want):
        assert isinstance(got, float) and math.isnan(got), f"{path}: {got} is not NaN"
    elif tolerance:
        assert got == pytest.approx(want, abs=tolerance, rel=0), path
    else:
        assert got == want, path


def _same(got: Any, want: Any, path: str = "") -> None:
    """Intervals ("ci") within 1e-9, point estimates exact except correlations (1e-12)."""
    if isinstance(want, dict):
        assert got.keys() == want.keys(), path
        for key in want:
            _same(got[key], want[key], f"{path}/{key}")
    elif isinstance(want, list) and not path.endswith("/ci"):
        assert len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _same(g, w, f"{path}[{i}]")
    elif path.endswith("/ci"):
        for g, w in zip(got, want, strict=True):
            _close(g, w, path, 1e-9)
    else:
        point = 1e-12 if any(name in path for name in CORRELATIONS) else 0.0
        _close(got, want, path, point)


def test_figures_equal_the_recorded_ones_and_warn_about_nothing() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = json.loads(json.dumps(outputs()))
    _same(got, json.loads(RECORDED.read_text())["outputs"])
