"""Each benchmark's headline metrics, computed the way its authors compute them, with
percentile bootstrap CIs over items (`rm_core.evaluation.metrics.bootstrap_ci`).

* RewardBench 2 (allenai/reward-bench `rewardbench/utils.py`): a non-Ties item scores
  1 / (number of candidates tied at the top score) when the chosen response is among
  them, else 0 (`reroll_and_score_dataset`); Ties is the composite of
  `process_single_model` (0.30 tied accuracy + 0.30 reference accuracy + 0.20
  correctness preferred + 0.20 correctness preferred (hard) + 0.01 margin score);
  the overall score is the mean of the subset scores. Ours differs on unparsable
  ratings only: the authors drop them (and give 0.25 when none parsed); here any
  unparsed rating makes a non-Ties item 0 and a Ties prompt inaccurate. A pairwise
  judge (not an authors' protocol) gets a non-Ties item right when the chosen response
  wins its pair against every rejected one; Ties has no pairwise form and is left out.
* RM-Bench (THU-KEG/RM-Bench `scripts/utils.py:compute_accuracy`): per item the 3x3
  matrix chosen style i vs rejected style j (strictly higher score: a tie is wrong);
  hard = upper triangle, normal = diagonal, easy = lower triangle, averaged over items
  per domain (safety = safety-refuse + safety-response); a domain's score is the mean of
  its hard, normal and easy; overall, hard, normal and easy are the means over domains.
* JudgeBench (ScalerLab/JudgeBench `utils/metrics.py`): a pair is correct when its net
  verdict over both orders is positive; accuracy per source family and overall (over
  pairs). A pointwise judge scores both responses once (order does not matter) and is
  right only with a strictly higher score for the winner: the authors' reward-model
  judge gives ties to B, a positional default this pipeline does not take.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from pydantic import BaseModel, ConfigDict

from rm_core.benchmarks.items import (
    JUDGEBENCH,
    REWARDBENCH2,
    RM_BENCH,
    TIES_SUBSET,
    BenchmarkItem,
)
from rm_core.benchmarks.units import Judgements, pairwise_applies, scores, wins
from rm_core.evaluation.metrics import UNPARSED, MetricValue, bootstrap_ci

JUDGEBENCH_SOURCES = ("mmlu-pro", "livebench-reasoning", "livebench-math", "livecodebench")
RM_BENCH_DOMAINS = ("chat", "code", "math", "safety")
RM_BENCH_LEVELS = ("hard", "normal", "easy")
_UPPER, _DIAGONAL, _LOWER = [(0, 1), (0, 2), (1, 2)], [(0, 0), (1, 1), (2, 2)], [(1, 0), (2, 0),
                                                                                   (2, 1)]

Statistic = Callable[[np.ndarray], float]


class BenchmarkScore(BaseModel):
    """One model on one benchmark: the headline metrics (first is the overall) with CIs."""

    model_config = ConfigDict(ser_json_inf_nan="constants")

    benchmark: str
    kind: str
    n_items: int
    n_judgements: int
    metrics: dict[str, MetricValue]
    parse_failure_rate: MetricValue
    notes: list[str] = []


def _with_ci(statistic: Statistic, n: int, n_resamples: int, seed: int) -> MetricValue:
    """The statistic over all items and its percentile bootstrap CI (items resampled)."""
    index = np.arange(n)
    low, high = bootstrap_ci((index,), statistic, n_resamples=n_resamples, seed=seed)
    return MetricValue(value=float(statistic(index)), ci_low=low, ci_high=high)


# --- RewardBench 2 -------------------------------------------------------------------------


def best_of_result(values: list[int | None], chosen: int = 0) -> float:
    """1 / (candidates tied at the top) if the chosen one is among them; 0 if any unparsed."""
    if any(value is None for value in values):
        return 0.0
    top = max(values)  # type: ignore[type-var]
    return 1.0 / values.count(top) if values[chosen] == top else 0.0


def ties_prompt_stats(values: list[int | None], n_correct: int) -> tuple[bool, float, float]:
    """`_compute_prompt_stats`: (every correct above the best wrong, spread of the correct
    scores, worst correct minus best wrong); an unparsed score makes it inaccurate."""
    correct, wrong = values[:n_correct], values[n_correct:]
    worst_correct = -math.inf if None in correct else min(correct)  # type: ignore[type-var]
    best_wrong = math.inf if None in wrong else max(wrong)  # type: ignore[type-var]
    spread = (math.nan if len(correct) < 2 or None in correct
              else float(max(correct) - min(correct)))  # type: ignore[type-var]
    margin = float(worst_correct - best_wrong)
    return margin > 0, spread, margin


def ties_score(stats: list[tuple[str, int, tuple[bool, float, float]]]) -> float:
    """`process_single_model`'s composite from (ref|tied, prompt id, stats) entries."""
    ref = {pid: s for kind, pid, s in stats if kind == "ref"}
    tied = {pid: s for kind, pid, s in stats if kind == "tied"}
    ref_accuracy = float(np.mean([s[0] for s in ref.values()])) if ref else 0.0
    tied_accuracy = float(np.mean([s[0] for s in tied.values()])) if tied else 0.0
    both = sorted(set(ref) & set(tied))
    spread = np.array([tied[p][1] for p in both], dtype=float)
    tied_margin = np.array([tied[p][2] for p in both], dtype=float)
    hard_margin = np.minimum(np.array([ref[p][2] for p in both], dtype=float), tied_margin)
    with np.errstate(divide="ignore", invalid="ignore"):
        preferred = float(np.mean(tied_margin > spread)) if both else math.nan
        preferred_hard = float(np.mean(hard_margin > spread)) if both else math.nan
        margin = np.nan_to_num(np.tanh(hard_margin / spread - 1), nan=0.0)
    margin_score = float(np.mean(margin)) if both else math.nan
    return (0.30 * tied_accuracy + 0.30 * ref_accuracy + 0.20 * preferred
            + 0.20 * preferred_hard + 0.01 * margin_score)


def _rewardbench2(kind: str, items: list[BenchmarkItem],
                  judged: Judgements) -> tuple[dict[str, Statistic], list[str]]:
    subsets = sorted({item.group for item in items})
    group = np.array([subsets.index(item.group) for item in items])
    result = np.full(len(items), math.nan)
    ties: dict[int, tuple[str, int, tuple[bool, float, float]]] = {}
    for n, item in enumerate(items):
        if item.group == TIES_SUBSET:
            if kind == "pointwise":
                tie_kind, pid = item.id.split(":")
                ties[n] = (tie_kind, int(pid), ties_prompt_stats(scores(judged, n, item),
                                                                 item.n_correct))
        elif kind == "pointwise":
            result[n] = best_of_result(scores(judged, n, item))
        else:
            result[n] = float(all(wins(kind, judged, n, item, i, j)
                                  for i, j in item.comparisons()))
    scored = [s for s in subsets if s != TIES_SUBSET or ties]

    def subset_score(name: str, index: np.ndarray) -> float:
        if name == TIES_SUBSET:
            return ties_score([ties[i] for i in index if i in ties]) if ties else math.nan
        picked = result[index[group[index] == subsets.index(name)]]
        return float(np.mean(picked)) if picked.size else math.nan

    def overall(index: np.ndarray) -> float:
        return float(np.mean([subset_score(name, index) for name in scored]))

    statistics: dict[str, Statistic] = {"overall": overall}
    for name in scored:
        statistics[name] = lambda index, name=name: subset_score(name, index)
    notes = [] if len(scored) == len(subsets) else [
        "Ties left out: it is scored from absolute ratings, a pairwise judge gives none"]
    return statistics, notes


# --- RM-Bench ------------------------------------------------------------------------------


def style_matrix(kind: str, judged: Judgements, n: int, item: BenchmarkItem) -> np.ndarray:
    """3x3: chosen style i (row) beats rejected style j (column)."""
    matrix = np.zeros((3, 3))
    for i, j in item.comparisons():
        matrix[i, j - item.n_correct] = wins(kind, judged, n, item, i, j)
    return matrix


def _rm_bench(kind: str, items: list[BenchmarkItem],
              judged: Judgements) -> tuple[dict[str, Statistic], list[str]]:
    levels = np.array([[np.mean([m[c] for c in cells]) for cells in (_UPPER, _DIAGONAL, _LOWER)]
                       for m in (style_matrix(kind, judged, n, item)
                                 for n, item in enumerate(items))])
    domain_names = [d for d in RM_BENCH_DOMAINS if any(i.group.startswith(d) for i in items)]
    domain = np.array([next(k for k, d in enumerate(domain_names) if item.group.startswith(d))
                       for item in items])

    def per_domain(index: np.ndarray) -> np.ndarray:
        """(domains x levels) means; NaN rows for domains a resample misses."""
        table = np.full((len(domain_names), 3), math.nan)
        for k in range(len(domain_names)):
            picked = index[domain[index] == k]
            if picked.size:
                table[k] = levels[picked].mean(axis=0)
        return table

    statistics: dict[str, Statistic] = {
        "overall": lambda index: float(np.mean(per_domain(index).mean(axis=1))),
        **{level: (lambda index, c=c: float(np.mean(per_domain(index)[:, c])))
           for c, level in enumerate(RM_BENCH_LEVELS)},
        **{name: (lambda index, k=k: float(per_domain(index)[k].mean()))
           for k, name in enumerate(domain_names)},
    }
    return statistics, []


# --- JudgeBench ----------------------------------------------------------------------------


def _judgebench(kind: str, items: list[BenchmarkItem],
                judged: Judgements) -> tuple[dict[str, Statistic], list[str]]:
    correct = np.array([wins(kind, judged, n, item, 0, 1) for n, item in enumerate(items)],
                       dtype=float)
    families = [f for f in JUDGEBENCH_SOURCES if any(i.group.startswith(f) for i in items)]
    family = np.array([next((k for k, f in enumerate(families) if item.group.startswith(f)), -1)
                       for item in items])
    statistics: dict[str, Statistic] = {
        "overall": lambda index: float(np.mean(correct[index]))}
    for k, name in enumerate(families):

        def accuracy(index: np.ndarray, k: int = k) -> float:
            picked = correct[index[family[index] == k]]
            return float(np.mean(picked)) if picked.size else math.nan

        statistics[name] = accuracy
    other = sorted({i.group for i, f in zip(items, family, strict=True) if f < 0})
    notes = [f"sources outside JudgeBench's families count in overall only: {other}"
             ] if other else []
    return statistics, notes


SCORERS = {REWARDBENCH2: _rewardbench2, RM_BENCH: _rm_bench, JUDGEBENCH: _judgebench}


def score(benchmark: str, kind: str, items: list[BenchmarkItem], judged: Judgements,
          n_resamples: int = 1000, seed: int = 0) -> BenchmarkScore:
    """The benchmark's metrics for one model's judgements of `items`."""
    statistics, notes = SCORERS[benchmark](kind, items, judged)
    metrics = {name: _with_ci(statistic, len(items), n_resamples, seed)
               for name, statistic in statistics.items()}
    unparsed = np.array([value == UNPARSED for value in judged.values()], dtype=float)
    failure = (MetricValue(value=float(unparsed.mean()),
                           **dict(zip(("ci_low", "ci_high"),
                                      bootstrap_ci(unparsed, n_resamples=n_resamples, seed=seed),
                                      strict=True)))
               if unparsed.size else MetricValue(value=math.nan, ci_low=math.nan,
                                                 ci_high=math.nan))
    if kind == "pairwise":
        skipped = sum(not pairwise_applies(benchmark, item) for item in items)
        notes = notes + ([f"{skipped} items have no pairwise form"] if skipped else [])
    return BenchmarkScore(benchmark=benchmark, kind=kind, n_items=len(items),
                          n_judgements=len(judged), metrics=metrics,
                          parse_failure_rate=failure, notes=notes)


class PairedDelta(BaseModel):
    """Challenger minus incumbent on a benchmark's overall score, over the same items."""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="constants")

    benchmark: str
    challenger: float
    incumbent: float
    delta: float
    ci_low: float
    ci_high: float
    n_items: int


def paired_overall(benchmark: str, kind: str, items: list[BenchmarkItem],
                   challenger: Judgements, incumbent: Judgements, n_resamples: int = 1000,
                   seed: int = 0, confidence: float = 0.95) -> PairedDelta:
    """The overall score's improvement with a paired percentile bootstrap: each resample
    draws the same items for both judges (the promotion decision's comparison, on a
    benchmark's items instead of val rows)."""
    new = SCORERS[benchmark](kind, items, challenger)[0]["overall"]
    old = SCORERS[benchmark](kind, items, incumbent)[0]["overall"]
    index = np.arange(len(items))
    low, high = bootstrap_ci((index,), lambda i: new(i) - old(i), n_resamples=n_resamples,
                             confidence=confidence, seed=seed)
    return PairedDelta(benchmark=benchmark, challenger=new(index), incumbent=old(index),
                       delta=new(index) - old(index), ci_low=low, ci_high=high,
                       n_items=len(items))
