"""Benchmark metrics on constructed items whose answers are known, judged by simulated judges
through the real units (rendered prompts) and parsers."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from rm_core.benchmarks.items import JUDGEBENCH, REWARDBENCH2, RM_BENCH, BenchmarkItem
from rm_core.benchmarks.scoring import BenchmarkScore, score, ties_prompt_stats, ties_score
from rm_core.benchmarks.units import Judgements, units
from rm_core.evaluation.runner import predict
from rm_core.judge.templates import PairwiseTemplate, PointwiseTemplate

POINTWISE = PointwiseTemplate(answer_prefix="<score>")
PAIRWISE = PairwiseTemplate(answer_prefix="<preference>")
Judge = Callable[[str], str]


def _between(text: str, start: str, end: str) -> str:
    return text.split(start, 1)[1].split(end, 1)[0]


def score_judge(rate: Callable[[str], int]) -> Judge:
    """A pointwise judge answering `rate(response)` (after the `<score>` prefix)."""
    return lambda prompt: f"{rate(_between(prompt, 'Response: ', chr(10) * 2 + 'Provide'))}"\
                          "</score>"


def pair_judge(choose: Callable[[str, str], str]) -> Judge:
    """A pairwise judge answering `choose(response_a, response_b)`."""

    def judge(prompt: str) -> str:
        a = _between(prompt, "Response A: ", "\n\nResponse B: ")
        b = _between(prompt, "Response B: ", "\n\nProvide")
        return f"{choose(a, b)}</preference>"

    return judge


def run(benchmark: str, items: list[BenchmarkItem], judge: Judge,
        template: PointwiseTemplate | PairwiseTemplate = POINTWISE) -> BenchmarkScore:
    todo = units(benchmark, items, template)
    answers = predict([[judge(text)] for _, text in todo], template)
    judged: Judgements = dict(zip((key for key, _ in todo), answers, strict=True))
    kind = "pairwise" if isinstance(template, PairwiseTemplate) else "pointwise"
    return score(benchmark, kind, items, judged, n_resamples=200, seed=0)


def values(result: BenchmarkScore) -> dict[str, float]:
    return {name: round(metric.value, 6) for name, metric in result.metrics.items()}


# --- constructed items --------------------------------------------------------------------

GOOD, BAD = "correct answer", "wrong answer"


def best_of_four(n: int, subset: str) -> BenchmarkItem:
    return BenchmarkItem(id=str(n), group=subset, prompt=f"question {n}",
                         responses=[f"{GOOD} {n}", f"{BAD} {n}a", f"{BAD} {n}b", f"{BAD} {n}c"],
                         n_correct=1)


def ties_pair(n: int) -> list[BenchmarkItem]:
    return [BenchmarkItem(id=f"ref:{n}", group="Ties", prompt=f"name one {n}",
                          responses=[f"{GOOD} r{n}", f"{BAD} r{n}"], n_correct=1),
            BenchmarkItem(id=f"tied:{n}", group="Ties", prompt=f"name one {n}",
                          responses=[f"{GOOD} t{n}", f"{GOOD} u{n}", f"{BAD} t{n}"], n_correct=2)]


RB2 = [best_of_four(n, subset) for n, subset in enumerate(["Math", "Math", "Safety", "Focus"])]
RB2_TIES = RB2 + ties_pair(1) + ties_pair(2)

CONCISE, DETAILED, MARKDOWN = 10, 100, 200  # response lengths of the three styles


def styled(n: int, domain: str) -> BenchmarkItem:
    """Chosen and rejected in the three styles; same length per style, so only style
    (length) tells a length-loving judge anything."""
    chosen = [f"{GOOD}{n}".ljust(size, "c") for size in (CONCISE, DETAILED, MARKDOWN)]
    rejected = [f"{BAD}{n}".ljust(size, "r") for size in (CONCISE, DETAILED, MARKDOWN)]
    return BenchmarkItem(id=str(n), group=domain, prompt=f"q{n}", responses=chosen + rejected,
                         n_correct=3)


RM = [styled(n, d) for n, d in enumerate(["chat", "code", "math", "safety-refuse",
                                          "safety-response", "chat"])]


def pair(n: int, source: str, a_wins: bool) -> BenchmarkItem:
    winner, loser = f"{GOOD} {n}", f"{BAD} {n}"
    return BenchmarkItem(id=str(n), group=source, prompt=f"q{n}", responses=[winner, loser],
                         n_correct=1, first_is_a=a_wins)


JB = [pair(0, "mmlu-pro-law", True), pair(1, "livebench-math", True),
      pair(2, "livebench-reasoning", False), pair(3, "livecodebench", True),
      pair(4, "mmlu-pro-biology", False)]

perfect_scores = score_judge(lambda response: 4 if response.startswith(GOOD) else 0)
perfect_pairs = pair_judge(lambda a, b: "A" if a.startswith(GOOD) else "B")
always_first = pair_judge(lambda a, b: "A")
constant = score_judge(lambda response: 2)
by_length = score_judge(lambda response: min(4, len(response) // 50))


def garbage(prompt: str) -> str:
    return "I think it is good."


# --- tests --------------------------------------------------------------------------------


def test_a_perfect_judge_scores_one_everywhere() -> None:
    for benchmark, items in ((REWARDBENCH2, RB2), (RM_BENCH, RM), (JUDGEBENCH, JB)):
        for judge, template in ((perfect_scores, POINTWISE), (perfect_pairs, PAIRWISE)):
            result = run(benchmark, items, judge, template)
            assert set(values(result).values()) == {1.0}, (benchmark, template)
            assert result.parse_failure_rate.value == 0.0


def test_rewardbench2_ties_composite_of_a_perfect_judge_is_its_authors_maximum() -> None:
    result = run(REWARDBENCH2, RB2_TIES, perfect_scores)
    # 0.3 + 0.3 + 0.2 + 0.2 + 0.01 * tanh(inf): the upstream formula tops out at 1.01.
    assert values(result)["Ties"] == pytest.approx(1.01)
    assert values(result)["overall"] == pytest.approx((1 + 1 + 1 + 1.01) / 4)


def test_ties_composite_on_known_margins() -> None:
    # ref: correct 3 vs wrong [1, 2] -> accurate, margin 1; tied: correct [4, 3] vs wrong
    # [1] -> accurate, spread 1, margin 2. preferred: 2 > 1; hard: min(1, 2) > 1 is not;
    # margin score tanh(1 / 1 - 1) = 0.
    stats = [("ref", 7, ties_prompt_stats([3, 1, 2], 1)),
             ("tied", 7, ties_prompt_stats([4, 3, 1], 2))]
    assert ties_score(stats) == pytest.approx(0.3 + 0.3 + 0.2)


def test_a_constant_score_is_rewarded_only_by_rewardbench2s_shared_top_rule() -> None:
    assert values(run(REWARDBENCH2, RB2, constant)) == dict.fromkeys(
        ["overall", "Focus", "Math", "Safety"], 0.25)  # 1 / 4 candidates tied at the top
    assert set(values(run(RM_BENCH, RM, constant)).values()) == {0.0}  # strict >
    assert set(values(run(JUDGEBENCH, JB, constant)).values()) == {0.0}  # no tie goes to B


def test_a_judge_preferring_longer_answers_fails_rm_bench_hard() -> None:
    result = values(run(RM_BENCH, RM, by_length))
    assert result["hard"] == 0.0  # concise chosen vs longer rejected
    assert result["easy"] == 1.0  # longer chosen vs concise rejected
    assert result["normal"] == 0.0  # same style, same length: a tie is not a win
    assert result["overall"] == pytest.approx(1 / 3)
    assert {"chat", "code", "math", "safety"} <= set(result)


def test_a_position_biased_judge_gets_nothing_on_judgebench() -> None:
    result = run(JUDGEBENCH, JB, always_first, PAIRWISE)
    assert set(values(result).values()) == {0.0}  # right in one order, wrong in the other
    assert result.parse_failure_rate.value == 0.0
    assert set(result.metrics) == {"overall", "mmlu-pro", "livebench-reasoning",
                                   "livebench-math", "livecodebench"}


def test_unparsable_answers_count_as_wrong_not_as_a_tie() -> None:
    for benchmark, items in ((REWARDBENCH2, RB2_TIES), (RM_BENCH, RM), (JUDGEBENCH, JB)):
        for template in (POINTWISE, PAIRWISE):
            result = run(benchmark, items, garbage, template)
            assert result.parse_failure_rate.value == 1.0
            assert all(v == 0.0 for k, v in values(result).items() if k != "Ties"), benchmark
    assert values(run(REWARDBENCH2, RB2_TIES, garbage))["Ties"] == 0.0


def test_one_right_order_and_one_unparsed_is_not_a_win() -> None:
    def right_once(prompt: str) -> str:
        a = _between(prompt, "Response A: ", "\n\nResponse B: ")
        return "A</preference>" if a.startswith(GOOD) else "dunno"

    def right_once_then_tie(prompt: str) -> str:
        a = _between(prompt, "Response A: ", "\n\nResponse B: ")
        return "A</preference>" if a.startswith(GOOD) else "tie</preference>"

    assert values(run(JUDGEBENCH, JB, right_once, PAIRWISE))["overall"] == 0.0
    assert values(run(JUDGEBENCH, JB, right_once_then_tie, PAIRWISE))["overall"] == 1.0


def test_pairwise_rewardbench2_leaves_ties_out_and_says_so() -> None:
    result = run(REWARDBENCH2, RB2_TIES, perfect_pairs, PAIRWISE)
    assert "Ties" not in result.metrics and values(result)["overall"] == 1.0
    assert any("Ties" in note for note in result.notes)


def test_cis_bracket_the_value() -> None:
    half = score_judge(lambda r: 4 if r.startswith(GOOD) and r[-1] in "02468" else 0)
    items = [pair(n, "livebench-math", True) for n in range(40)]
    overall = run(JUDGEBENCH, items, half).metrics["overall"]
    assert overall.value == 0.5 and overall.ci_low < 0.5 < overall.ci_high
    assert not math.isnan(overall.ci_low)
