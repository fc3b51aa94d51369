"""What the training task shows from a job's log: progress, the metrics table, warnings."""

from __future__ import annotations

import numpy as np
import pytest

from rm_core.training.judge_metrics import judge_metrics
from rm_core.training.monitor import TrainingMonitor, iter_metrics, parse_metrics, strip_ansi

STEP_1 = ("(TaskRunner pid=7) step:1 - critic/score/mean:0.25 - critic/score/min:0.0 - "
          "critic/score/max:1.0 - judge/acc/mean:0.125 - judge/parsed/mean:0.5 - "
          "judge/abs_error/mean:2.5 - timing_s/gen:12.0")
STEP_2 = ("(TaskRunner pid=7) step:2 - critic/score/mean:0.0 - critic/score/min:0.0 - "
          "critic/score/max:0.0 - timing_s/gen:11.0")


def test_judge_metrics_average_the_fields_compute_score_returns() -> None:
    extra_info = {"acc": np.array([1.0, 0.0, 0.0, 1.0]), "parsed": [1.0, 1.0, 0.0, 1.0],
                  "abs_error": np.array([0.0, 2.0, 4.0, 0.0]), "pred": np.array([3.0] * 4),
                  "score": np.array([1.0] * 4)}
    assert judge_metrics(extra_info) == {"judge/acc/mean": 0.5, "judge/parsed/mean": 0.75,
                                         "judge/abs_error/mean": 1.5,
                                         "judge/pred/top_share": 1.0, "judge/pred/entropy": 0.0}


def test_judge_metrics_skip_absent_and_empty_fields() -> None:
    assert judge_metrics({"parsed_fraction": [0.4, 0.6], "acc": []}) == {
        "judge/parsed_fraction/mean": 0.5}


def test_table_rows_carry_rewards_judge_fields_and_timings() -> None:
    progress: list[tuple[int, int]] = []
    warnings: list[str] = []
    monitor = TrainingMonitor(total_steps=4, on_progress=lambda s, t: progress.append((s, t)),
                              on_warning=warnings.append)
    monitor.feed(["Training Progress:  25%|##  | 1/4 [00:10<00:30]", STEP_1, "noise", STEP_2])

    first, second = monitor.table()
    assert (first["step"], first["reward mean"], first["acc"], first["parse rate"],
            first["abs error"], first["generation s"]) == (1, 0.25, 0.125, 0.5, 2.5, 12.0)
    assert second["acc"] is None and second["generation s"] == 11.0
    assert progress == [(1, 4), (2, 4)]
    assert monitor.zero_signal_steps == [2]
    assert len(warnings) == 1 and "advantages are all zero" in warnings[0]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("step:3 - actor/pg_loss:0.123 - critic/score/mean:0.5 - timing_s/gen:12.3",
         {"step": 3.0, "actor/pg_loss": 0.123, "critic/score/mean": 0.5,
          "timing_s/gen": 12.3}),
        ("\x1b[36m(TaskRunner pid=123)\x1b[0m step:7 - val-core/x/reward/mean@1:-1e-05",
         {"step": 7.0, "val-core/x/reward/mean@1": -1e-05}),
        ("(TaskRunner pid=9, ip=10.0.0.2) step:2 - a:1 - name:qwen - b:np.float64(0.25)",
         {"step": 2.0, "a": 1.0, "b": 0.25}),
        ("(pid=5) step:4 - loss:2.5 \x1b[32m[repeated 2x across cluster]\x1b[0m",
         {"step": 4.0, "loss": 2.5}),
        ("step:0", {"step": 0.0}),
        ("step:1 - clock:12:30 - ok:1", {"step": 1.0, "ok": 1.0}),
    ],
)
def test_parse_metrics(line: str, expected: dict[str, float]) -> None:
    assert parse_metrics(line) == expected


@pytest.mark.parametrize(
    "line",
    ["", "done", "Training Progress: step:3", "stepper:3 - a:1", "step:x - a:1",
     "(TaskRunner pid=1) validation generation end", "step:3- a:1"],
)
def test_parse_metrics_ignores_other_lines(line: str) -> None:
    assert parse_metrics(line) is None


def test_iter_metrics_keeps_only_step_lines() -> None:
    assert list(iter_metrics(["noise", STEP_2])) == [
        {"step": 2.0, "critic/score/mean": 0.0, "critic/score/min": 0.0,
         "critic/score/max": 0.0, "timing_s/gen": 11.0}]


def test_strip_ansi_removes_colour_codes_only() -> None:
    assert strip_ansi("\x1b[36m(TaskRunner pid=1)\x1b[0m step:1") == "(TaskRunner pid=1) step:1"
