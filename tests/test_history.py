"""The judge's history across runs, built from constructed registry decisions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rm_core.evaluation.history import champion_series, history_rows, trend_png


def decision(day: int, promote: bool, candidate: float, incumbent: str | None,
             incumbent_value: float | None, failed: tuple[str, ...] = ()) -> dict[str, Any]:
    bars = [{"name": name, "required": True, "passed": name not in failed}
            for name in ("incumbent", "constants", "spearman")]
    bars.append({"name": "text_baseline", "required": False, "passed": False})
    delta = None if incumbent_value is None else candidate - incumbent_value
    return {"decided_at": f"2026-12-0{day}T02:10:00+00:00", "run_id": f"run-{day}",
            "train_key": f"key{day}" * 4, "data_fingerprint": "f" * 64, "metric": "mean_reward",
            "promote": promote, "challenger_value": candidate, "incumbent": incumbent,
            "champion_value": incumbent_value, "delta": delta,
            "ci_low": None if delta is None else delta - 0.05,
            "ci_high": None if delta is None else delta + 0.05, "bars": bars}


NIGHTS = [
    decision(1, False, 0.50, "base model", 0.44, failed=("constants", "spearman")),
    decision(2, True, 0.70, "base model", 0.44),
    decision(3, False, 0.68, "champion", 0.71, failed=("incumbent",)),
    decision(4, True, 0.80, "champion", 0.70),
]


def test_the_champion_series_follows_promotions_and_remeasurements() -> None:
    assert champion_series(NIGHTS) == [None, 0.70, 0.71, 0.80]


def test_rows_name_the_decision_the_failed_required_bars_and_the_delta() -> None:
    rows = history_rows(NIGHTS)
    assert [row["decision"] for row in rows] == ["kept", "promoted", "kept", "promoted"]
    assert rows[0]["failed bars"] == "constants, spearman"  # the optional bar is not named
    assert rows[1]["failed bars"] == "-"
    assert rows[2]["delta [95% CI]"] == "-0.030 [-0.080, +0.020]"
    assert rows[0]["decided at"] == "2026-12-01 02:10:00"
    assert rows[0]["train key"] == "key1key1key1" and rows[0]["data"] == "f" * 12


def test_the_trend_plot_is_written(tmp_path: Path) -> None:
    path = trend_png(NIGHTS, tmp_path / "history.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
