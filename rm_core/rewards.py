"""Reward functions verl calls for each sampled judgement.

verl loads this file by path (`custom_reward_function.path`) inside its Ray workers and
calls `compute_score` with its fixed signature; the reward settings arrive as keyword
arguments (`custom_reward_function.reward_kwargs`). Parsing is the template's own, so
training rewards exactly what evaluation measures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from rm_core.templates import PointwiseTemplate


def pointwise_reward(predicted: int, true: int, k: float = 2.0, max_score: int = 4) -> float:
    """exp(-k * |predicted - true| / max_score): 1 for exact, decaying with the error."""
    return math.exp(-k * abs(predicted - true) / max_score)


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Mapping[str, Any] | int | float,
    extra_info: Mapping[str, Any] | None = None,
    *,
    k: float = 2.0,
    max_score: int = 4,
    dimension: str = "helpfulness",
    answer_prefix: str = "",
    **_: Any,
) -> dict[str, float]:
    """Score one judgement. Unparsable or out-of-range output scores 0 (`parsed` = 0)."""
    template = PointwiseTemplate(dimension=dimension, max_score=max_score,
                                 answer_prefix=answer_prefix)
    true = int(ground_truth[dimension] if isinstance(ground_truth, Mapping) else ground_truth)
    predicted = template.parse_completion(solution_str)
    if predicted is None:
        return {"score": 0.0, "acc": 0.0, "abs_error": float(max_score), "parsed": 0.0,
                "pred": -1.0}
    return {
        "score": pointwise_reward(predicted, true, k, max_score),
        "acc": float(predicted == true),
        "abs_error": float(abs(predicted - true)),
        "parsed": 1.0,
        "pred": float(predicted),
    }
