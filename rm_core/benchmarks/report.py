"""Benchmark results as table rows (one artifact per benchmark) and a markdown section."""

from __future__ import annotations

import math
from pathlib import Path

from pydantic import BaseModel

from rm_core.benchmarks.items import BenchmarkInfo
from rm_core.benchmarks.scoring import BenchmarkScore
from rm_core.evaluation.metrics import MetricValue

REPORT_FILE = "benchmarks.md"


class ModelScore(BaseModel):
    """One model's score on one benchmark, as a report shows it."""

    label: str
    model_dir: Path
    score: BenchmarkScore
    seconds: float = math.nan  # how long the judging took when it ran (maybe an earlier run)


class BenchmarkResult(BaseModel):
    """Every model on one benchmark, with what was read and kept out."""

    benchmark: str
    origin: str
    items: int
    total_rows: int
    quarantined: int
    models: list[ModelScore]


def cell(value: MetricValue) -> str:
    """`0.512 [0.43, 0.60]`; `n/a` when undefined."""
    if math.isnan(value.value):
        return "n/a"
    return f"{value.value:.3f} [{value.ci_low:.2f}, {value.ci_high:.2f}]"


def table_rows(result: BenchmarkResult) -> list[dict[str, str]]:
    """model x metric, each with its 95% bootstrap CI, then the parse-failure rate."""
    return [{"model": m.label, **{name: cell(v) for name, v in m.score.metrics.items()},
             "parse_failure_rate": cell(m.score.parse_failure_rate)} for m in result.models]


def markdown(results: list[BenchmarkResult]) -> str:
    """The 'Public benchmarks' section of a report."""
    lines = ["## Public benchmarks", "",
             "Each benchmark's own headline metrics (see docs/benchmarks.md), 95% bootstrap "
             "CIs over items; unparsable answers count as wrong.", ""]
    for result in results:
        lines += [f"### {result.benchmark}", "",
                  f"{result.items} items judged from {result.origin} ({result.total_rows} rows "
                  f"read, {result.quarantined} quarantined).", ""]
        rows = table_rows(result)
        if rows:
            header = list(rows[0])
            lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(row.get(h, "") for h in header) + " |" for row in rows]
        for model in result.models:
            lines += [f"* {model.label}: {note}" for note in model.score.notes]
        lines.append("")
    return "\n".join(lines)


def result_of(benchmark: BenchmarkInfo, models: list[ModelScore]) -> BenchmarkResult:
    return BenchmarkResult(benchmark=benchmark.name, origin=benchmark.origin,
                           items=benchmark.items, total_rows=benchmark.total_rows,
                           quarantined=benchmark.quarantined, models=models)


def write(results: list[BenchmarkResult], out_dir: Path) -> Path:
    """report: `<out_dir>/benchmarks.md`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / REPORT_FILE
    path.write_text(f"# Benchmarks\n\n{markdown(results)}", encoding="utf-8")
    return path
