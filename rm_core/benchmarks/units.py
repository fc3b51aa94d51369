"""What the judge reads for each benchmark item, and its answers read back per comparison.

A pointwise judge scores every response alone (`<n>|<k>`: item n, response k) and
comparisons are made from the scores. A pairwise judge reads every (correct, incorrect)
pair twice, in both orders (`<n>|<i>><j>|AB` shows i as A, `|BA` shows it as B), and a
pair's verdict is the net of the two: +1 for each order that prefers the correct
response, -1 for each that prefers the other one OR could not be parsed (unparsable
answers count as wrong, never as abstentions or a default), 0 for a tie. This is
JudgeBench's rule (`utils/metrics.py`: correct only when the net is positive) with that
one change: JudgeBench's code lets an unparsed game count 0.
"""

from __future__ import annotations

from rm_core.benchmarks.items import REWARDBENCH2, TIES_SUBSET, BenchmarkError, BenchmarkItem
from rm_core.evaluation.metrics import UNPARSED
from rm_core.judge.templates import (
    PREFERENCE_CODES,
    MultiAttributeTemplate,
    PairwiseTemplate,
    PointwiseTemplate,
    Template,
)

Judgements = dict[str, int]  # unit key -> parsed answer (score or preference code), -1 unparsed


def judged_kind(template: Template) -> str:
    """pointwise or pairwise; a multi-attribute judge has no single score to rank by."""
    if isinstance(template, MultiAttributeTemplate):
        raise BenchmarkError("benchmarks rank responses by one judgement: use a pointwise "
                             "(one dimension) or pairwise template, not several dimensions")
    return "pairwise" if isinstance(template, PairwiseTemplate) else "pointwise"


def pairwise_applies(benchmark: str, item: BenchmarkItem) -> bool:
    """RewardBench 2's Ties subset is scored from absolute ratings only (its authors rate
    Ties even when judging the other subsets four-way): no pairwise form of it exists."""
    return not (benchmark == REWARDBENCH2 and item.group == TIES_SUBSET)


def score_key(n: int, k: int) -> str:
    return f"{n}|{k}"


def pair_key(n: int, i: int, j: int, order: str) -> str:
    return f"{n}|{i}>{j}|{order}"


def units(benchmark: str, items: list[BenchmarkItem], template: Template) -> list[tuple[str, str]]:
    """(key, judge prompt text) of every judgement the items need."""
    if judged_kind(template) == "pointwise":
        assert isinstance(template, PointwiseTemplate)
        return [(score_key(n, k), template.render(item.prompt, response))
                for n, item in enumerate(items) for k, response in enumerate(item.responses)]
    assert isinstance(template, PairwiseTemplate)
    out = []
    for n, item in enumerate(items):
        if not pairwise_applies(benchmark, item):
            continue
        for i, j in item.comparisons():
            first, second = item.responses[i], item.responses[j]
            out.append((pair_key(n, i, j, "AB"), template.render(item.prompt, first, second)))
            out.append((pair_key(n, i, j, "BA"), template.render(item.prompt, second, first)))
    return out


def scores(judgements: Judgements, n: int, item: BenchmarkItem) -> list[int | None]:
    """A pointwise judge's score of each response of item n (None: unparsed)."""
    values = [judgements[score_key(n, k)] for k in range(len(item.responses))]
    return [None if value == UNPARSED else value for value in values]


def net_verdict(judgements: Judgements, n: int, i: int, j: int) -> int:
    """+2..-2: how much the two orders favour response i over response j."""
    first, second = judgements[pair_key(n, i, j, "AB")], judgements[pair_key(n, i, j, "BA")]
    return _vote(first, PREFERENCE_CODES["A"]) + _vote(second, PREFERENCE_CODES["B"])


def _vote(code: int, correct: int) -> int:
    if code == PREFERENCE_CODES["tie"]:
        return 0
    return 1 if code == correct else -1


def wins(kind: str, judgements: Judgements, n: int, item: BenchmarkItem, i: int, j: int) -> bool:
    """Whether the judge prefers response i to response j: strictly higher score (a tie or
    an unparsed score is not a win), or a positive net verdict over both orders."""
    if kind == "pointwise":
        values = scores(judgements, n, item)
        a, b = values[i], values[j]
        return a is not None and b is not None and a > b
    return net_verdict(judgements, n, i, j) > 0
