"""Read a verl job's console output: progress, per-step metrics, learning-signal warnings.

verl prints `step:N - key:value - ...` after every step and a tqdm bar
`Training Progress: ...| s/T` as it goes; this turns those lines into the numbers a
user watches, and flags steps whose rewards are all equal (GRPO advantages are then
zero and the step teaches nothing).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
# Ray prefixes forwarded worker output: "(TaskRunner pid=123)" or "(pid=7, ip=10.0.0.2)".
_RAY_PREFIX = re.compile(r"^\s*\([^()]*\bpid=\d+[^()]*\)\s*")
_RAY_REPEATED = re.compile(r"\s*\[repeated \d+x across cluster\].*$")
_STEP = re.compile(r"^step:\s*(\d+)(?:\s+-\s+|\s*$)")
# pprint of numpy scalars under numpy 2: "np.float64(0.5)".
_NP_SCALAR = re.compile(r"^np\.\w+\((.*)\)$")
_PROGRESS = re.compile(r"Training Progress:.*?\|\s*(\d+)/(\d+)")
TABLE_COLUMNS = {
    "reward mean": "critic/score/mean",
    "reward min": "critic/score/min",
    "reward max": "critic/score/max",
    "acc": "judge/acc/mean",
    "parse rate": "judge/parsed/mean",
    "abs error": "judge/abs_error/mean",
    "top share": "judge/pred/top_share",  # collapse signs: rm_core.training.judge_metrics
    "entropy": "judge/pred/entropy",
    "response length": "response_length/mean",
    "groups kept": "dynamic_sampling/kept_groups",  # rm_core.training.cpu_steps
    "generation s": "timing_s/gen",
    "old log-prob s": "timing_s/old_log_prob",
    "ref log-prob s": "timing_s/ref",
    "update s": "timing_s/update_actor",
    "step s": "timing_s/step",
}
VALIDATION_SUFFIXES = {"val reward": "/reward/mean@1", "val acc": "/acc/mean@1",
                       "val parsed": "/parsed/mean@1"}


def strip_ansi(line: str) -> str:
    """`line` without terminal colour codes (verl and Ray colour their console output)."""
    return _ANSI.sub("", line)


def parse_metrics(line: str) -> dict[str, float] | None:
    """Metrics from one verl console line `step:N - key:value - ...`, else None.

    verl's console logger prints each training step this way; reading it back from the
    job log gives live metrics without a tracking server. Non-numeric values are
    skipped; colour codes, Ray's "(Actor pid=N)" prefix and dedup suffix are ignored.
    """
    text = _RAY_REPEATED.sub("", _RAY_PREFIX.sub("", strip_ansi(line))).strip()
    match = _STEP.match(text)
    if match is None:
        return None
    metrics = {"step": float(match.group(1))}
    for part in text[match.end():].split(" - "):
        key, sep, raw = part.strip().partition(":")
        if not sep or not key:
            continue
        raw = raw.strip()
        scalar = _NP_SCALAR.match(raw)
        if scalar:
            raw = scalar.group(1)
        try:
            metrics[key.strip()] = float(raw)
        except ValueError:
            continue
    return metrics


def iter_metrics(lines: Iterable[str]) -> Iterator[dict[str, float]]:
    """The metric dicts among `lines` (e.g. a batch handed to `on_lines`)."""
    for line in lines:
        parsed = parse_metrics(line)
        if parsed is not None:
            yield parsed


@dataclass
class TrainingMonitor:
    """Accumulates what a job's log says; calls back on progress and on warnings."""

    total_steps: int
    on_progress: Callable[[int, int], None] = lambda step, total: None
    on_warning: Callable[[str], None] = lambda message: None
    steps: list[dict[str, float]] = field(default_factory=list)
    zero_signal_steps: list[int] = field(default_factory=list)
    last_step: int = 0

    def feed(self, lines: list[str]) -> None:
        """Consume new log lines."""
        for line in lines:
            progress = _PROGRESS.search(line)
            if progress:
                self.total_steps = int(progress.group(2))
            metrics = parse_metrics(line)
            if metrics is not None and "step" in metrics:
                self._record(metrics)

    def _record(self, metrics: dict[str, float]) -> None:
        step = int(metrics["step"])
        self.steps.append(metrics)
        self.last_step = max(self.last_step, step)
        self.on_progress(step, self.total_steps)
        low, high = metrics.get("critic/score/min"), metrics.get("critic/score/max")
        if low is not None and high is not None and low == high:
            self.zero_signal_steps.append(step)
            self.on_warning(
                f"step {step}: every sampled judgement got the same reward ({low:g}); "
                "GRPO advantages are all zero and this step cannot learn. Check the base "
                "model's parse rate, the prompt template and rollout.n."
            )

    def table(self) -> list[dict[str, float | int | None]]:
        """One row per step: rewards, lengths, timings and validation results when run."""
        rows = []
        for metrics in self.steps:
            row: dict[str, float | int | None] = {"step": int(metrics["step"])}
            for title, key in TABLE_COLUMNS.items():
                row[title] = _rounded(metrics.get(key))
            for title, suffix in VALIDATION_SUFFIXES.items():
                row[title] = _rounded(_first_with_suffix(metrics, suffix))
            rows.append(row)
        return rows


def _first_with_suffix(metrics: dict[str, float], suffix: str) -> float | None:
    for key, value in metrics.items():
        if key.startswith("val-") and key.endswith(suffix):
            return value
    return None


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
