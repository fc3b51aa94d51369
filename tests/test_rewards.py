"""The pointwise reward: the seed's formula, strict parsing, failures counted."""

from __future__ import annotations

import math

import pytest

from rm_core.judge.rewards import compute_score


@pytest.mark.parametrize(
    ("pred", "true", "expected"),
    [(3, 3, 1.0), (2, 3, math.exp(-0.5)), (0, 4, math.exp(-2.0)), (4, 2, math.exp(-1.0))],
)
def test_reward_is_exp_decay_of_the_error(pred: int, true: int, expected: float) -> None:
    result = compute_score("hs2", f"<score>{pred}</score>", {"helpfulness": true})
    assert result["score"] == pytest.approx(expected)
    assert result["acc"] == float(pred == true)
    assert result["abs_error"] == abs(pred - true)
    assert result["parsed"] == 1.0


@pytest.mark.parametrize(
    "output",
    ["4", "score: 3", "<score>4.0</score>", "<score>-1</score>", "<score>5</score>",
     "<score></score>", ""],
)
def test_unparsable_or_out_of_range_output_is_a_counted_failure(output: str) -> None:
    result = compute_score("hs2", output, {"helpfulness": 0})
    assert result == {"score": 0.0, "acc": 0.0, "abs_error": 4.0, "parsed": 0.0, "pred": -1.0}


def test_k_max_score_and_dimension_are_configurable() -> None:
    result = compute_score("hs2", "<score>1</score>", {"helpfulness": 0, "correctness": 3},
                           k=4.0, max_score=10, dimension="correctness")
    assert result["score"] == pytest.approx(math.exp(-4.0 * 2 / 10))


def test_answer_prefix_is_parsed_with_the_completion() -> None:
    result = compute_score("hs2", "2</score>", {"helpfulness": 2}, answer_prefix="<score>")
    assert result["score"] == 1.0 and result["parsed"] == 1.0


def test_plain_number_ground_truth() -> None:
    assert compute_score("hs2", "<score>2</score>", 2)["acc"] == 1.0
