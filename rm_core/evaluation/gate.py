"""The promotion gate: the bars a challenger must clear, and the signs of a collapsed judge.

Every bar is measured on the challenger's own rows with the same paired bootstrap (the
same seed draws the same resampled rows for every comparison):

* `incumbent`: beat the champion, or before the first promotion the base model, on the
  promotion metric (the CI of the improvement above 0) - or, with
  `evaluation.promotion_benchmark`, on that public benchmark's overall score, paired
  over its items;
* `constants`: beat the best constant answer, "always k" for every label k, the same
  way - the seed's reward pays hedging towards the middle label, so a judge that answers
  "2" to everything can beat the base model without judging anything;
* `spearman` (score judges): the Spearman correlation's CI lower bound above 0;
* `chance` (pairwise judges): the accuracy's CI lower bound above 0.5;
* `text_baseline`: beat the TF-IDF text baseline the same way (off by default).

A bar switched off in `evaluation.gate` is still measured and reported, it just does
not decide. Collapse signs (the most common answer's share, the entropy of the answers,
the parse rate) are reported for every judge and flag one whose most common answer
takes `evaluation.collapse_share` of the rows.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from rm_core.evaluation import metrics as m
from rm_core.evaluation.pairwise import PairwiseReport
from rm_core.evaluation.registry import (
    DIFFERENT_DATA,
    METRICS,
    Decision,
    bound_metric,
    improvement_fn,
)
from rm_core.evaluation.settings import GateSettings
from rm_core.judge.templates import PREFERENCE_CODES

# A constant answer has no correlation and never fails to parse: for those promotion
# metrics the references are compared on the judge kind's default metric instead.
NOT_COMPARABLE = ("pearson_parsed", "spearman_parsed", "parse_failure_rate")
VERDICTS = {code: name for name, code in PREFERENCE_CODES.items()}


class Bar(BaseModel):
    """One bar of the gate: what it compares, the numbers, and whether it was cleared."""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="constants")

    name: str
    title: str
    required: bool
    passed: bool
    metric: str | None = None
    challenger_value: float | None = None
    reference: str | None = None
    reference_value: float | None = None
    delta: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    detail: str


class CollapseSigns(BaseModel):
    """How varied a judge's answers are: one answer for most rows is a collapsed judge."""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="constants")

    top_answer: str | None
    top_share: float
    entropy_bits: float
    parse_rate: float
    collapsed: bool


class Reference(BaseModel):
    """Predictions that need no model (a constant, the text baseline) on the same rows."""

    model_config = ConfigDict(frozen=True)

    name: str
    predictions: list[int]


def answer_name(code: int, pairwise: bool) -> str:
    return VERDICTS.get(code, str(code)) if pairwise else str(code)


def collapse_signs(predictions: Sequence[int], threshold: float,
                   pairwise: bool = False) -> CollapseSigns:
    """Share of the most common parsed answer over all rows, entropy of the parsed answers
    (bits) and the parse rate; collapsed when that share reaches `threshold`."""
    n = len(predictions)
    counts = Counter(p for p in predictions if p != m.UNPARSED)
    parsed = sum(counts.values())
    if not n or not parsed:
        return CollapseSigns(top_answer=None, top_share=0.0, entropy_bits=0.0,
                             parse_rate=parsed / n if n else 0.0, collapsed=False)
    top, count = min(counts.items(), key=lambda item: (-item[1], item[0]))
    shares = np.array(list(counts.values()), dtype=float) / parsed
    entropy = float(-(shares * np.log2(shares)).sum()) + 0.0
    return CollapseSigns(top_answer=answer_name(top, pairwise), top_share=count / n,
                         entropy_bits=entropy, parse_rate=parsed / n,
                         collapsed=count / n >= threshold)


def labels(true: Sequence[int], pairwise: bool, max_score: int) -> list[int]:
    """Every answer a constant reference can give: 0..max_score, or A and B (and tie when
    tie is a label of these rows)."""
    if not pairwise:
        return list(range(max_score + 1))
    return sorted({PREFERENCE_CODES["A"], PREFERENCE_CODES["B"], *true})


def constant_references(true: Sequence[int], pairwise: bool, max_score: int) -> list[Reference]:
    return [Reference(name=f"always {answer_name(k, pairwise)}", predictions=[k] * len(true))
            for k in labels(true, pairwise, max_score)]


def reference_metric(metric: str, pairwise: bool) -> str:
    """The metric references are compared on (see NOT_COMPARABLE)."""
    if metric in NOT_COMPARABLE:
        return "accuracy" if pairwise else "mean_reward"
    return metric


class Scoring(BaseModel):
    """How rows are scored: the label range, the reward's k, the bootstrap."""

    model_config = ConfigDict(frozen=True)

    max_score: int
    k: float = 2.0
    n_resamples: int
    seed: int
    confidence: float = 0.95


def best_reference(references: Sequence[Reference], true: Sequence[int], metric: str,
                   scoring: Scoring) -> tuple[Reference, float]:
    """The reference scoring best on `metric` (the first on a tie) and its value."""
    score = bound_metric(metric, scoring.max_score, scoring.k)
    oriented = 1 if METRICS[metric][1] else -1
    values = [float(score(r.predictions, true)) for r in references]
    index = max(range(len(values)), key=lambda i: (oriented * values[i], -i))
    return references[index], values[index]


def _beats(name: str, title: str, required: bool, challenger: Sequence[int],
           reference: Reference, true: Sequence[int], metric: str, scoring: Scoring) -> Bar:
    """Paired bootstrap of the challenger's improvement over `reference` on `metric`."""
    score = bound_metric(metric, scoring.max_score, scoring.k)
    delta, low, high = m.paired_bootstrap_delta(
        reference.predictions, challenger, true,
        improvement_fn(metric, scoring.max_score, scoring.k), n_resamples=scoring.n_resamples,
        confidence=scoring.confidence, seed=scoring.seed, max_score=scoring.max_score,
    )  # fmt: skip
    passed = not math.isnan(low) and low > 0
    value, ref_value = float(score(challenger, true)), float(score(reference.predictions, true))
    detail = (f"{metric} {value:.3f} vs {reference.name} {ref_value:.3f}, improvement "
              f"{delta:+.3f}, {scoring.confidence:.0%} CI [{low:+.3f}, {high:+.3f}]")
    return Bar(name=name, title=title, required=required, passed=passed, metric=metric,
               challenger_value=value, reference=reference.name, reference_value=ref_value,
               delta=delta, ci_low=low, ci_high=high, detail=detail)


def incumbent_bar(decision: Decision, required: bool) -> Bar:
    """The champion (or base model) comparison `registry.decide` already made."""
    title = f"beats the {decision.incumbent}" if decision.incumbent else "beats the incumbent"
    passed = decision.promote
    # decide's reason ends with its own verdict, which the gate's verdict replaces
    detail = decision.reason.rsplit("; ", 1)[0] if decision.delta is not None else decision.reason
    if decision.incumbent is None and decision.promote:
        detail = "no champion yet and no base model judged: nothing to beat"
    return Bar(name="incumbent", title=title, required=required, passed=passed,
               metric=decision.metric, challenger_value=decision.challenger_value,
               reference=decision.incumbent, reference_value=decision.champion_value,
               delta=decision.delta, ci_low=decision.ci_low, ci_high=decision.ci_high,
               detail=detail)


def _interval_bar(name: str, title: str, required: bool, value: m.MetricValue, above: float,
                  metric: str) -> Bar:
    passed = not math.isnan(value.ci_low) and value.ci_low > above
    shown = "n/a" if math.isnan(value.value) else f"{value.value:.3f}"
    interval = ("no interval (a single answer, or nothing parsed)" if math.isnan(value.ci_low)
                else f"CI [{value.ci_low:+.3f}, {value.ci_high:+.3f}]")
    verb = "above" if passed else "not above"
    return Bar(name=name, title=title, required=required, passed=passed, metric=metric,
               challenger_value=value.value, reference_value=above, ci_low=value.ci_low,
               ci_high=value.ci_high,
               detail=f"{metric} {shown}, {interval}: lower bound {verb} {above:g}")


def bars(decision: Decision, predictions: Sequence[int], true: Sequence[int],
         report: object, gate: GateSettings, scoring: Scoring,
         text_baseline: Reference | None, metric: str | None = None) -> list[Bar]:
    """Every bar, measured whether or not it is required; the references are compared on
    the val `metric` (default: the decision's, unless it was decided on a benchmark)."""
    pairwise = isinstance(report, PairwiseReport)
    compared = reference_metric(metric or decision.metric, pairwise)
    result = [incumbent_bar(decision, gate.beat_incumbent)]
    best, _ = best_reference(constant_references(true, pairwise, scoring.max_score), true,
                             compared, scoring)
    result.append(_beats("constants", f"beats the best constant ({best.name})",
                         gate.beat_constants, predictions, best, true, compared, scoring))
    if pairwise:
        result.append(_interval_bar("chance", "accuracy above chance", gate.above_chance,
                                    report.preference.accuracy, 0.5, "accuracy"))
    else:
        result.append(_interval_bar("spearman", "ranks like the labels",
                                    gate.positive_spearman,
                                    report.metrics["spearman_parsed"],  # type: ignore[attr-defined]
                                    0.0, "spearman_parsed"))
    if text_baseline is not None:
        result.append(_beats("text_baseline", f"beats the text baseline ({text_baseline.name})",
                             gate.beat_text_baseline, predictions, text_baseline, true,
                             compared, scoring))
    elif gate.beat_text_baseline:
        result.append(Bar(name="text_baseline", title="beats the text baseline", required=True,
                          passed=False, detail="no text baseline: no train split to fit it on"))
    return result


def verdict(bars_: Sequence[Bar]) -> tuple[bool, str]:
    """(promote, reason): promoted when every required bar passed; the reason names each
    bar with its numbers, failed ones first."""
    failed = [b for b in bars_ if b.required and not b.passed]
    passed = [b for b in bars_ if b.required and b.passed]
    shown = [b for b in bars_ if not b.required]

    def listed(items: list[Bar]) -> str:
        return "; ".join(f"{b.title}: {b.detail}" for b in items)

    parts = [f"failed {listed(failed)}"] if failed else []
    parts += [f"passed {listed(passed)}"] if passed else []
    parts += [f"not required {listed(shown)}"] if shown else []
    head = "promoted" if not failed else "not promoted"
    return not failed, f"{head}. " + ". ".join(parts)


class GatedDecision(Decision):
    """A decision with every bar of the gate, the references' figures and the
    challenger's collapse signs (what report.md and decisions.jsonl show)."""

    bars: list[Bar] = Field(default_factory=list)
    references: dict[str, float] = Field(default_factory=dict)
    collapse: CollapseSigns | None = None
    order_flip_rate: float | None = None


def gated(decision: Decision, predictions: Sequence[int], true: Sequence[int], report: object,
          gate: GateSettings, scoring: Scoring, collapse_share: float,
          text_baseline: Reference | None = None, metric: str | None = None) -> GatedDecision:
    """The incumbent comparison `decision` completed by the other bars: promoted only when
    every required bar passed. `metric` is the val metric when `decision` compared the
    judges on a public benchmark (`evaluation.promotion_benchmark`)."""
    pairwise = isinstance(report, PairwiseReport)
    measured = bars(decision, predictions, true, report, gate, scoring, text_baseline, metric)
    promote, reason = verdict(measured)
    if decision.reason.startswith(DIFFERENT_DATA):  # refused whatever the gate requires
        promote, reason = False, decision.reason
    compared = reference_metric(metric or decision.metric, pairwise)
    score = bound_metric(compared, scoring.max_score, scoring.k)
    references = [*constant_references(true, pairwise, scoring.max_score),
                  *([text_baseline] if text_baseline else [])]
    return GatedDecision(
        **decision.model_dump(exclude={"promote", "reason"}), promote=promote, reason=reason,
        bars=measured, references={r.name: float(score(r.predictions, true)) for r in references},
        collapse=collapse_signs(predictions, collapse_share, pairwise),
        order_flip_rate=report.consistency.flip_rate if pairwise else None,
    )  # fmt: skip
