"""Toy reward of `learning_check.py`: the shorter the completion, the higher the score.

A random model's completions vary a lot in length (its tokens run from one byte to whole
words, and it rarely emits the end-of-turn token), so every GRPO group has differing
rewards and the policy can climb quickly by favouring short tokens or stopping early.
verl loads this file by path and calls `compute_score` with its fixed signature.
"""

from __future__ import annotations

from typing import Any

BUDGET_CHARS = 80  # a random 16-token completion of the tiny Qwen2 has ~53 characters


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: dict[str, Any] | None = None,
    **kwargs: Any,
) -> float:
    """1 for an empty completion, falling linearly to 0 at `BUDGET_CHARS` characters."""
    return max(0.0, 1.0 - len(solution_str) / BUDGET_CHARS)
