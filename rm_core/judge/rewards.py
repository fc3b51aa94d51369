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

from rm_core.judge.templates import (
    PREFERENCE_CODES,
    MultiAttributeTemplate,
    PairwiseTemplate,
    PointwiseTemplate,
    Template,
)


def pointwise_reward(predicted: int, true: int, k: float = 2.0, max_score: int = 4) -> float:
    """exp(-k * |predicted - true| / max_score): 1 for exact, decaying with the error."""
    return math.exp(-k * abs(predicted - true) / max_score)


def template_kwargs(template: Template) -> dict[str, Any]:
    """`compute_score` keyword arguments that score answers to `template`'s prompts."""
    if isinstance(template, PairwiseTemplate):
        return {"allow_tie": template.allow_tie, "answer_prefix": template.answer_prefix}
    chosen: dict[str, Any] = {"max_score": template.max_score,
                              "answer_prefix": template.answer_prefix}
    if isinstance(template, MultiAttributeTemplate):
        return {**chosen, "dimensions": template.dimensions}
    return {**chosen, "dimension": template.dimension}


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Mapping[str, Any] | int | float,
    extra_info: Mapping[str, Any] | None = None,
    *,
    k: float = 2.0,
    max_score: int = 4,
    dimension: str = "helpfulness",
    dimensions: list[str] | tuple[str, ...] | None = None,
    weights: Mapping[str, float] | None = None,
    allow_tie: bool = True,
    answer_prefix: str = "",
    **_: Any,
) -> dict[str, float]:
    """Score one judgement: a preference when the truth holds one, several dimensions when
    `dimensions` is given, else one pointwise score. Unparsable output scores 0."""
    if isinstance(ground_truth, Mapping) and "preference" in ground_truth:
        return preference_score(solution_str, ground_truth, allow_tie, answer_prefix)
    if dimensions:
        return multi_attribute_score(solution_str, ground_truth, tuple(dimensions), weights,
                                     k, max_score, answer_prefix)
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


def preference_score(solution_str: str, ground_truth: Mapping[str, Any], allow_tie: bool = True,
                     answer_prefix: str = "") -> dict[str, float]:
    """1 for the labelled preference, 0 otherwise; unparsable output is 0 and `parsed` 0."""
    predicted = PairwiseTemplate(allow_tie=allow_tie, answer_prefix=answer_prefix
                                 ).parse_completion(solution_str)
    if predicted is None:
        return {"score": 0.0, "acc": 0.0, "parsed": 0.0, "pred": -1.0}
    correct = float(predicted == ground_truth["preference"])
    return {"score": correct, "acc": correct, "parsed": 1.0,
            "pred": float(PREFERENCE_CODES[predicted])}


def multi_attribute_score(
    solution_str: str,
    ground_truth: Mapping[str, Any],
    dimensions: tuple[str, ...],
    weights: Mapping[str, float] | None = None,
    k: float = 2.0,
    max_score: int = 4,
    answer_prefix: str = "",
) -> dict[str, float]:
    """Weighted mean of the per-dimension exp-decay rewards (an unparsed dimension earns 0).

    `parsed` is 1 only when every dimension parsed; `parsed_fraction` says how many did.
    Weights default to equal; they are normalised, so only their ratios matter.
    """
    chosen = {d: float((weights or {}).get(d, 1.0)) for d in dimensions}
    if any(w < 0 for w in chosen.values()) or sum(chosen.values()) <= 0:
        raise ValueError(f"weights must be >= 0 with a positive sum, got {chosen}")
    template = MultiAttributeTemplate(dimensions, max_score, answer_prefix)
    predicted = template.parse_completion(solution_str)
    scores: dict[str, float] = {}
    for d, guess in predicted.items():
        reward = 0.0 if guess is None else pointwise_reward(guess, int(ground_truth[d]), k,
                                                            max_score)
        scores[f"{d}_reward"] = reward
        scores[f"{d}_pred"] = -1.0 if guess is None else float(guess)
    total = sum(chosen[d] * scores[f"{d}_reward"] for d in dimensions) / sum(chosen.values())
    parsed = sum(guess is not None for guess in predicted.values())
    return {"score": total, "parsed": float(parsed == len(dimensions)),
            "parsed_fraction": parsed / len(dimensions), **scores}
