"""The Bradley-Terry section of an evaluation report: what only a scalar reward shows
(`bt.json` of each scored model), beside the pairwise tables every judge gets."""

from __future__ import annotations

import math

from rm_core.evaluation.bt_scoring import BtScores
from rm_core.evaluation.report import cell

TITLE = "## Bradley-Terry rewards"


def _number(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def bt_section(scored: list[tuple[str, BtScores]]) -> list[str]:
    """Markdown lines: per model, its head (trained or fresh), accuracy on the non-tie
    rows with its 95% CI, the margin r(chosen) - r(rejected) distribution, and the reward
    scale on val and, for a trained model, on its train pairs (to normalise its scores)."""
    lines = [TITLE, "",
             "The margin is r(chosen) - r(rejected) on the non-tie val rows (quantiles p5, p25, "
             "p50, p75, p95); reward mean and std are over every answer scored on val. A trained "
             "model stores its train-split reward mean and std with it (`reward_stats.json`), "
             "to normalise its scores when used.", "",
             "| model | head | non-tie accuracy | non-tie rows | margin quantiles | mean margin "
             "| reward mean | reward std | train reward mean / std |",
             "|---|---|---|---|---|---|---|---|---|"]
    for label, scores in scored:
        quantiles = " / ".join(_number(value) for value in scores.margin_quantiles.values())
        train = scores.train_reward_stats or {}
        stored = (f"{train['mean']:.3f} / {train['std']:.3f}"
                  if {"mean", "std"} <= set(train) else "none")
        lines.append(f"| {label} | {'fresh (seeded)' if scores.fresh_head else 'trained'} | "
                     f"{cell(scores.accuracy_non_tie)} | {scores.non_tie_rows} | {quantiles} | "
                     f"{_number(scores.margin_mean)} | {scores.reward_mean:.3f} | "
                     f"{scores.reward_std:.3f} | {stored} |")
    return lines
