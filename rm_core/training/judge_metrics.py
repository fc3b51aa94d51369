"""Per-step metrics of the judge itself: exact-match accuracy, parse rate, error, and the
collapse signs of its sampled answers (the most common answer's share, their entropy).

verl logs each step's mean reward, but the other values `compute_score` returns reach
the batch as reward extra info and are dropped from the step's metrics. They are what a
user watches to see a judge learn its answer format and its labels, so `apply()` wraps
verl's `compute_data_metrics` (called by the trainer, inside a Ray worker) to add
`judge/<name>/mean` for each of them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

JUDGE_FIELDS = ("acc", "parsed", "parsed_fraction", "abs_error")
PREDICTION_FIELD = "pred"  # compute_score's parsed answer, -1 when unparsable


def answer_signs(predictions: Any) -> dict[str, float]:
    """Share of the batch's most common parsed answer (over all samples) and the entropy
    in bits of the parsed answers: a policy collapsing to one answer shows here first."""
    answers = np.asarray(predictions, dtype=float)
    parsed = answers[answers >= 0]
    if not answers.size or not parsed.size:
        return {}
    _, counts = np.unique(parsed, return_counts=True)
    shares = counts / parsed.size
    return {"judge/pred/top_share": float(counts.max() / answers.size),
            "judge/pred/entropy": float(-(shares * np.log2(shares)).sum()) + 0.0}


def judge_metrics(extra_info: Mapping[str, Any]) -> dict[str, float]:
    """Mean of each judge field present in a batch's per-sample reward extra info, and the
    collapse signs of its answers."""
    metrics = {}
    for name in JUDGE_FIELDS:
        values = extra_info.get(name)
        if values is not None and len(values):
            metrics[f"judge/{name}/mean"] = float(np.mean(np.asarray(values, dtype=float)))
    predictions = extra_info.get(PREDICTION_FIELD)
    if predictions is not None and len(predictions):
        metrics.update(answer_signs(predictions))
    return metrics


def apply() -> None:
    """Make verl's trainer log the judge fields with every step (idempotent)."""
    from verl.trainer.ppo import ray_trainer

    original = ray_trainer.compute_data_metrics
    if getattr(original, "adds_judge_metrics", False):
        return

    @functools.wraps(original)
    def with_judge_metrics(batch: Any, use_critic: bool = True) -> dict[str, Any]:
        return {**original(batch=batch, use_critic=use_critic),
                **judge_metrics(batch.non_tensor_batch)}

    with_judge_metrics.adds_judge_metrics = True  # type: ignore[attr-defined]
    ray_trainer.compute_data_metrics = with_judge_metrics
