"""Pairwise judge metrics: accuracy, ties, parse failures, position bias and conflicts.

A pairwise judge sees (query, A, B) and answers A, B or tie. Every pair is judged in
both orders, so two things can be measured beyond accuracy:

* position consistency: the share of pairs whose winner changes when A and B swap
  places (a judge that prefers "whatever comes first" flips on every pair);
* conflicts over a prompt's responses (three or more): symmetry conflicts (the two
  orders of one pair name different winners), transitivity conflicts (x > y and y > z,
  yet not x > z) and cycles in the preference graph (x > y > z > x).

Verdicts are "A", "B", "tie" or None (unparsable). Unparsable verdicts count as wrong in
accuracy and are left out of the consistency and conflict rates, whose denominators say
how many pairs, triples and prompts could be checked.

`PairwiseReport` is a pairwise judge's whole report: verdicts are coded A=0, B=1, tie=2
only to pair rows for promotion, and no score metric (MAE, correlation, reward) of those
codes is computed, since distances between verdicts mean nothing.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from rm_core.evaluation.metrics import (
    UNPARSED_COLUMN,
    MetricValue,
    bootstrap_ci,
    confusion_matrix,
    per_label_recall,
)
from rm_core.evaluation.settings import EvaluationSettings
from rm_core.judge.templates import PREFERENCE_CODES

TIE = "tie"


class PairJudgement(BaseModel):
    """One judged ordering: which responses were shown as A and B, and what was said."""

    prompt_id: str
    first: str  # the response shown as A
    second: str  # the response shown as B
    verdict: str | None
    truth: str


def winner(judgement: PairJudgement) -> str | None:
    """The response id the verdict prefers, "tie", or None when unparsable."""
    return {"A": judgement.first, "B": judgement.second, TIE: TIE}.get(judgement.verdict or "")


def _rate(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else math.nan


class PreferenceReport(BaseModel):
    """Accuracy with its bootstrap CI, and how ties and failures are distributed."""

    model_config = ConfigDict(ser_json_inf_nan="constants")

    n: int
    accuracy: MetricValue
    accuracy_without_tie_labels: float
    parse_failure_rate: float
    predicted_tie_rate: float
    first_position_rate: float  # share of parsed verdicts that pick A


def preference_metrics(judgements: Sequence[PairJudgement], n_resamples: int = 1000,
                       seed: int = 0) -> PreferenceReport:
    if not judgements:
        raise ValueError("preference metrics need at least one judgement")
    correct = np.array([j.verdict == j.truth for j in judgements], dtype=float)
    low, high = bootstrap_ci(correct, n_resamples=n_resamples, seed=seed)
    strict = [j for j in judgements if j.truth != TIE]
    parsed = [j for j in judgements if j.verdict is not None]
    return PreferenceReport(
        n=len(judgements),
        accuracy=MetricValue(value=float(correct.mean()), ci_low=low, ci_high=high),
        accuracy_without_tie_labels=_rate(sum(j.verdict == j.truth for j in strict),
                                          len(strict)),
        parse_failure_rate=1 - len(parsed) / len(judgements),
        predicted_tie_rate=_rate(sum(j.verdict == TIE for j in parsed), len(parsed)),
        first_position_rate=_rate(sum(j.verdict == "A" for j in parsed), len(parsed)),
    )


def _orders(judgements: Iterable[PairJudgement]
            ) -> dict[tuple[str, frozenset[str]], dict[tuple[str, str], str | None]]:
    """(prompt, unordered pair) -> {(first, second): winner} for every judged order."""
    pairs: dict[tuple[str, frozenset[str]], dict[tuple[str, str], str | None]] = defaultdict(dict)
    for j in judgements:
        pairs[(j.prompt_id, frozenset((j.first, j.second)))][(j.first, j.second)] = winner(j)
    return pairs


class ConsistencyReport(BaseModel):
    """Position consistency over the pairs judged in both orders."""

    model_config = ConfigDict(ser_json_inf_nan="constants")

    pairs_in_both_orders: int
    pairs_checked: int  # both verdicts parsed
    flips: int
    flip_rate: float


def position_consistency(judgements: Sequence[PairJudgement]) -> ConsistencyReport:
    both = [orders for orders in _orders(judgements).values() if len(orders) == 2]
    checked = [orders for orders in both if None not in orders.values()]
    flips = sum(len(set(orders.values())) > 1 for orders in checked)
    return ConsistencyReport(pairs_in_both_orders=len(both), pairs_checked=len(checked),
                             flips=flips, flip_rate=_rate(flips, len(checked)))


class ConflictReport(BaseModel):
    """Logical conflicts in the preferences over prompts with three or more responses."""

    model_config = ConfigDict(ser_json_inf_nan="constants")

    prompts_checked: int
    symmetry_pairs: int
    symmetry_conflicts: int
    symmetry_conflict_rate: float
    triples_checked: int
    transitivity_conflicts: int
    transitivity_conflict_rate: float
    prompts_with_cycle: int
    cycle_rate: float


def _relations(orders: dict[tuple[str, str], str | None]) -> tuple[str | None, bool]:
    """(the pair's agreed winner or tie, whether its two orders conflict)."""
    said = [w for w in orders.values() if w is not None]
    if not said:
        return None, False
    if len(orders) == 2 and len(said) == 2 and said[0] != said[1]:
        return None, True
    return said[0], False


def _has_cycle(nodes: set[str], beats: dict[str, set[str]]) -> bool:
    """Depth-first search for a back edge in the strict "x beats y" graph."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done

    def visit(node: str) -> bool:
        state[node] = 1
        for nxt in beats.get(node, ()):
            if state.get(nxt) == 1 or (nxt not in state and visit(nxt)):
                return True
        state[node] = 2
        return False

    return any(node not in state and visit(node) for node in sorted(nodes))


def conflicts(judgements: Sequence[PairJudgement]) -> ConflictReport:
    by_prompt: dict[str, dict[frozenset[str], dict[tuple[str, str], str | None]]] = (
        defaultdict(dict))
    for (prompt, pair), orders in _orders(judgements).items():
        by_prompt[prompt][pair] = orders
    checked = sym_pairs = sym_conflicts = triples = trans_conflicts = cycles = 0
    for pairs in by_prompt.values():
        nodes = set().union(*pairs)
        if len(nodes) < 3:
            continue
        checked += 1
        relation: dict[frozenset[str], str] = {}
        for pair, orders in pairs.items():
            agreed, conflict = _relations(orders)
            if len(orders) == 2 and None not in orders.values():
                sym_pairs += 1
                sym_conflicts += conflict
            if agreed is not None:
                relation[pair] = agreed
        beats: dict[str, set[str]] = defaultdict(set)
        for pair, won in relation.items():
            if won != TIE:
                beats[won].add(next(iter(pair - {won})))
        for x, y, z in itertools.permutations(sorted(nodes), 3):
            if y in beats[x] and z in beats[y] and frozenset((x, z)) in relation:
                triples += 1
                trans_conflicts += relation[frozenset((x, z))] != x
        cycles += _has_cycle(nodes, beats)
    return ConflictReport(
        prompts_checked=checked, symmetry_pairs=sym_pairs, symmetry_conflicts=sym_conflicts,
        symmetry_conflict_rate=_rate(sym_conflicts, sym_pairs), triples_checked=triples,
        transitivity_conflicts=trans_conflicts,
        transitivity_conflict_rate=_rate(trans_conflicts, triples),
        prompts_with_cycle=cycles, cycle_rate=_rate(cycles, checked),
    )  # fmt: skip


class PairwiseReport(BaseModel):
    """Everything a pairwise evaluation reports.

    `headline()` is what tables, W&B and the registry record: accuracy (with its CI in
    `intervals()`), accuracy without tie labels, parse failures, predicted ties, the
    first-position rate, order flips (position consistency) and the symmetry,
    transitivity and cycle conflict rates.
    """

    model_config = ConfigDict(ser_json_inf_nan="constants")

    kind: Literal["pairwise"] = "pairwise"
    n: int
    n_parsed: int
    n_resamples: int
    seed: int
    preference: PreferenceReport
    consistency: ConsistencyReport
    conflicts: ConflictReport
    confusion_matrix: list[list[int]]  # rows: true A, B, tie; columns: verdicts, unparsed
    confusion_columns: list[str]
    per_label_recall: dict[str, float | None]

    @property
    def confusion_rows(self) -> list[str]:
        """Row labels of the confusion matrix: the true preferences."""
        return list(PREFERENCE_CODES)

    def headline(self) -> dict[str, float]:
        """Every figure's value by name (NaN where nothing could be checked)."""
        pref, pos, con = self.preference, self.consistency, self.conflicts
        return {
            "accuracy": pref.accuracy.value,
            "accuracy_without_tie_labels": pref.accuracy_without_tie_labels,
            "parse_failure_rate": pref.parse_failure_rate,
            "predicted_tie_rate": pref.predicted_tie_rate,
            "first_position_rate": pref.first_position_rate,
            "order_flip_rate": pos.flip_rate,
            "symmetry_conflict_rate": con.symmetry_conflict_rate,
            "transitivity_conflict_rate": con.transitivity_conflict_rate,
            "cycle_rate": con.cycle_rate,
        }

    def intervals(self) -> dict[str, MetricValue]:
        """The figures with a bootstrap interval: accuracy only (the promotion metric)."""
        return {"accuracy": self.preference.accuracy}


_ORDER_SUFFIX = re.compile(r"^(?P<pair>.+)-(?P<order>ab|ba)$")


def _pair_ids(extra: dict[str, Any]) -> tuple[str, str, str]:
    """(prompt id, response shown as A, response shown as B) of a verl pairwise row.

    Rows written before the ids were recorded still name their pair and order in the
    unique_id (`<pair>-ab` / `<pair>-ba`): the pair then stands in for the prompt.
    """
    if extra.get("prompt_id") is not None:
        return str(extra["prompt_id"]), str(extra["first_id"]), str(extra["second_id"])
    match = _ORDER_SUFFIX.match(str(extra.get("unique_id", "")))
    if match is None:
        return str(extra.get("unique_id")), "A", "B"
    pair = match["pair"]
    first, second = f"{pair}/x", f"{pair}/y"
    return (pair, first, second) if match["order"] == "ab" else (pair, second, first)


def pairwise_report(rows: Sequence[dict[str, Any]], predictions: Sequence[int],
                    settings: EvaluationSettings) -> PairwiseReport:
    """The pairwise report of coded predictions (A=0, B=1, tie=2, -1 unparsed) on verl rows."""
    verdicts = {code: name for name, code in PREFERENCE_CODES.items()}
    judgements = []
    for row, code in zip(rows, predictions, strict=True):
        prompt_id, first, second = _pair_ids(row["extra_info"] or {})
        judgements.append(PairJudgement(
            prompt_id=prompt_id, first=first, second=second, verdict=verdicts.get(code),
            truth=row["reward_model"]["ground_truth"]["preference"],
        ))  # fmt: skip
    true = [PREFERENCE_CODES[j.truth] for j in judgements]
    last = max(PREFERENCE_CODES.values())
    recall = per_label_recall(predictions, true, max_score=last)
    return PairwiseReport(
        n=len(judgements),
        n_parsed=sum(j.verdict is not None for j in judgements),
        n_resamples=settings.n_resamples,
        seed=settings.seed,
        preference=preference_metrics(judgements, settings.n_resamples, settings.seed),
        consistency=position_consistency(judgements),
        conflicts=conflicts(judgements),
        confusion_matrix=confusion_matrix(predictions, true, max_score=last),
        confusion_columns=[*PREFERENCE_CODES, UNPARSED_COLUMN],
        per_label_recall={verdicts[code]: value for code, value in recall.items()},
    )
