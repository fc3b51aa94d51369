"""Pairwise and multi-attribute judging: parsers, rewards and the pairwise metrics on
hand-made outputs and constructed preference sets with known answers."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from rm_core.config import DataConfig
from rm_core.evaluation.pairwise import (
    PairJudgement,
    conflicts,
    position_consistency,
    preference_metrics,
)
from rm_core.judge.rewards import compute_score, template_kwargs
from rm_core.judge.templates import MultiAttributeTemplate, PairwiseTemplate, PointwiseTemplate

TRUTH = {"preference": "A", "strength": 2}
HS2 = {"helpfulness": 3, "correctness": 4, "coherence": 2, "complexity": 1, "verbosity": 0}


# --- pairwise reward --------------------------------------------------------------------


@pytest.mark.parametrize(("output", "score", "parsed"), [
    ("<preference>A</preference>", 1.0, 1.0),
    ("<preference> a </preference>", 1.0, 1.0),
    ("<preference>B</preference>", 0.0, 1.0),
    ("<preference>tie</preference>", 0.0, 1.0),
    ("<preference>B</preference> on reflection <preference>A</preference>", 1.0, 1.0),
    ("<preference>A or B</preference>", 0.0, 0.0),
    ("<preference><preference>A</preference></preference>", 1.0, 1.0),
    ("A", 0.0, 0.0),
    ("", 0.0, 0.0),
])
def test_preference_reward(output: str, score: float, parsed: float) -> None:
    result = compute_score("hs2-pref", output, TRUTH)
    assert (result["score"], result["parsed"]) == (score, parsed)


def test_tie_only_when_enabled_and_prefix_is_parsed_with_the_completion() -> None:
    tie_truth = {"preference": "tie", "strength": 0}
    assert compute_score("p", "<preference>tie</preference>", tie_truth)["score"] == 1.0
    disabled = compute_score("p", "<preference>tie</preference>", tie_truth, allow_tie=False)
    assert disabled["parsed"] == 0.0
    assert compute_score("p", "B</preference>", {"preference": "B"},
                         answer_prefix="<preference>")["score"] == 1.0


def test_parsers_answer_megabytes_of_adversarial_text() -> None:
    # The tag bodies are bounded in the patterns, so this stays linear (no backtracking blowup).
    junk = "<preference>" * 200_000 + "x" * 1_000_000 + "<helpfulness>" * 100_000
    template = MultiAttributeTemplate()
    assert PairwiseTemplate().parse(junk) is None
    assert template.parse(junk) == dict.fromkeys(template.dimensions)


# --- multi-attribute --------------------------------------------------------------------


def test_multi_attribute_template_lists_every_dimension_and_parses_each_tag() -> None:
    template = MultiAttributeTemplate(("helpfulness", "correctness"), answer_prefix="<helpfulness>")
    prompt = template.render("q?", "r.")
    assert "<helpfulness>X</helpfulness>\n<correctness>X</correctness>" in prompt
    assert template.parse_completion("3</helpfulness>\n<correctness>9</correctness>") == {
        "helpfulness": 3, "correctness": None}


def test_multi_attribute_reward_weights_per_dimension_scores() -> None:
    output = "<helpfulness>3</helpfulness><correctness>2</correctness>"
    result = compute_score("hs2", output, HS2, dimensions=["helpfulness", "correctness"],
                           weights={"helpfulness": 3, "correctness": 1})
    assert result["helpfulness_reward"] == 1.0
    assert result["correctness_reward"] == pytest.approx(math.exp(-1.0))
    assert result["score"] == pytest.approx((3 * 1.0 + math.exp(-1.0)) / 4)
    assert result["parsed"] == 1.0


def test_multi_attribute_missing_dimension_earns_zero_and_is_not_parsed() -> None:
    result = compute_score("hs2", "<helpfulness>3</helpfulness>", HS2,
                           dimensions=["helpfulness", "coherence"])
    assert result["score"] == pytest.approx(0.5)
    assert (result["parsed"], result["parsed_fraction"]) == (0.0, 0.5)
    assert result["coherence_pred"] == -1.0


def test_bad_dimensions_and_weights_are_refused() -> None:
    with pytest.raises(ValueError, match="identifiers"):
        MultiAttributeTemplate(("Help fulness",))
    with pytest.raises(ValueError, match="positive sum"):
        compute_score("hs2", "", HS2, dimensions=["helpfulness"], weights={"helpfulness": 0})


# --- pairwise metrics ---------------------------------------------------------------------


def judged(prompt: str, first: str, second: str, verdict: str | None,
           truth: str = "A") -> PairJudgement:
    return PairJudgement(prompt_id=prompt, first=first, second=second, verdict=verdict,
                         truth=truth)


def test_accuracy_ties_failures_and_first_position_rate() -> None:
    report = preference_metrics([
        judged("p", "x", "y", "A", truth="A"),
        judged("p", "y", "x", "A", truth="B"),   # wrong
        judged("q", "u", "v", "tie", truth="tie"),
        judged("q", "v", "u", None, truth="tie"),
    ], n_resamples=200)
    assert report.accuracy.value == 0.5
    assert report.accuracy.ci_low <= 0.5 <= report.accuracy.ci_high
    assert report.accuracy_without_tie_labels == 0.5
    assert report.parse_failure_rate == 0.25
    assert report.predicted_tie_rate == pytest.approx(1 / 3)
    assert report.first_position_rate == pytest.approx(2 / 3)


def test_position_consistency_counts_flips_over_pairs_judged_both_ways() -> None:
    report = position_consistency([
        judged("p", "x", "y", "A"), judged("p", "y", "x", "B"),  # x both times: consistent
        judged("p", "x", "z", "A"), judged("p", "z", "x", "A"),  # always first: flips
        judged("p", "y", "z", "A"), judged("p", "z", "y", None),  # unparsed: not checked
        judged("q", "u", "v", "tie"),                             # one order only
    ])
    assert (report.pairs_in_both_orders, report.pairs_checked, report.flips) == (3, 2, 1)
    assert report.flip_rate == 0.5


def both_orders(prompt: str, better: str, worse: str) -> list[PairJudgement]:
    return [judged(prompt, better, worse, "A"), judged(prompt, worse, better, "B")]


def test_a_consistent_ranking_has_no_conflicts() -> None:
    report = conflicts(both_orders("p", "x", "y") + both_orders("p", "y", "z")
                       + both_orders("p", "x", "z"))
    assert report.prompts_checked == 1
    assert (report.symmetry_pairs, report.symmetry_conflicts) == (3, 0)
    assert (report.triples_checked, report.transitivity_conflicts) == (1, 0)
    assert report.prompts_with_cycle == 0


def test_a_cycle_is_a_transitivity_conflict_and_a_cycle() -> None:
    report = conflicts(both_orders("p", "x", "y") + both_orders("p", "y", "z")
                       + both_orders("p", "z", "x") + both_orders("q", "a", "b"))
    assert report.prompts_checked == 1  # q has two responses only
    assert report.triples_checked == 3 and report.transitivity_conflicts == 3
    assert report.prompts_with_cycle == 1 and report.cycle_rate == 1.0


def test_symmetry_conflict_and_a_tie_breaking_transitivity() -> None:
    report = conflicts([
        *both_orders("p", "x", "y"), *both_orders("p", "y", "z"),
        judged("p", "x", "z", "tie"), judged("p", "z", "x", "tie"),     # x > y > z but x ~ z
        judged("p", "w", "x", "A"), judged("p", "x", "w", "A"),         # order decides: conflict
    ])
    assert (report.symmetry_pairs, report.symmetry_conflicts) == (4, 1)
    assert report.symmetry_conflict_rate == 0.25
    assert (report.triples_checked, report.transitivity_conflicts) == (1, 1)
    assert report.prompts_with_cycle == 0


def test_multi_attribute_config_names_only_known_labels() -> None:
    config = DataConfig(dimensions=("helpfulness", "verbosity"),
                        dimension_weights={"helpfulness": 3})
    assert config.dimensions == ("helpfulness", "verbosity")
    with pytest.raises(ValidationError, match="not among labels"):
        DataConfig(dimensions=("helpfulness", "charm"))
    with pytest.raises(ValidationError, match="not among dimensions"):
        DataConfig(dimensions=("helpfulness",), dimension_weights={"verbosity": 1})


@pytest.mark.parametrize(("template", "answer", "truth"), [
    (PointwiseTemplate(answer_prefix="<score>"), "3</score>", HS2),
    (MultiAttributeTemplate(("helpfulness", "verbosity")),
     "<helpfulness>3</helpfulness><verbosity>0</verbosity>", HS2),
    (PairwiseTemplate(answer_prefix="<preference>"), "A</preference>", TRUTH),
])
def test_template_kwargs_score_a_perfect_answer_to_each_template(
    template: PointwiseTemplate | MultiAttributeTemplate | PairwiseTemplate, answer: str,
    truth: dict,
) -> None:
    assert compute_score("hs2", answer, truth, **template_kwargs(template))["score"] == 1.0
