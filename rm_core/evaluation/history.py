"""A judge's history across runs, read from its registry's decisions: one table row per
decision and a trend plot of the champion's metric, so a nightly run shows how the
figures moved, not only where they are tonight."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

Decisions = Sequence[dict[str, Any]]


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _delta(entry: dict[str, Any]) -> str:
    if entry.get("delta") is None:
        return "-"
    interval = (f" [{entry['ci_low']:+.3f}, {entry['ci_high']:+.3f}]"
                if entry.get("ci_low") is not None and entry.get("ci_high") is not None else "")
    return f"{entry['delta']:+.3f}{interval}"


def failed_bars(entry: dict[str, Any]) -> list[str]:
    """The required bars of the gate this decision did not clear."""
    return [bar["name"] for bar in entry.get("bars", [])
            if bar.get("required") and not bar.get("passed")]


def history_rows(decisions: Decisions) -> list[dict[str, Any]]:
    """A row per decision, oldest first: when, which run and training, on which data,
    the best candidate against the incumbent (delta with its 95% CI), the decision and
    the bars it failed."""
    return [{
        "decided at": entry.get("decided_at", "")[:19].replace("T", " "),
        "run": entry.get("run_id"),
        "train key": (entry.get("train_key") or "-")[:12],
        "data": (entry.get("data_fingerprint") or "-")[:12],
        "metric": entry.get("metric"),
        "best candidate": _rounded(entry.get("challenger_value")),
        "incumbent": entry.get("incumbent") or "-",
        "incumbent value": _rounded(entry.get("champion_value")),
        "delta [95% CI]": _delta(entry),
        "decision": "promoted" if entry.get("promote") else "kept",
        "failed bars": ", ".join(failed_bars(entry)) or "-",
    } for entry in decisions]


def champion_series(decisions: Decisions) -> list[float | None]:
    """The champion's metric after each decision: the promoted candidate's value, else
    the champion's value measured in that run; None while there is no champion."""
    series: list[float | None] = []
    current: float | None = None
    for entry in decisions:
        if entry.get("promote"):
            current = entry.get("challenger_value")
        elif entry.get("incumbent") == "champion" and entry.get("champion_value") is not None:
            current = entry["champion_value"]
        series.append(current)
    return series


def trend_png(decisions: Decisions, path: Path) -> Path:
    """The champion's metric and each run's best candidate over the decisions."""
    figure = Figure(figsize=(7, 3.5))
    axes = figure.subplots()
    runs = range(1, len(decisions) + 1)
    champion = champion_series(decisions)
    axes.step(runs, [float("nan") if v is None else v for v in champion], where="post",
              label="champion")
    axes.scatter(runs, [entry.get("challenger_value") for entry in decisions],
                 marker="x", color="tab:orange", label="best candidate")
    axes.set_xticks(list(runs), [entry.get("decided_at", "")[5:10] for entry in decisions],
                    rotation=45, fontsize=7)
    axes.set_xlabel("decision (date)")
    axes.set_ylabel(decisions[-1].get("metric", "") if decisions else "")
    axes.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path
