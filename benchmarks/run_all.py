"""Every benchmark in one command, each in its own process, collected into one markdown file.

Run on demand, it is not a test:

    python benchmarks/run_all.py [--quick] [--only NAME,...] [--output benchmarks/results.md]
        [--work-dir DIR]

Each benchmark runs as `python benchmarks/<name>.py` in a child process (its memory and
imports stay its own), with the repository first on PYTHONPATH, its own work or
artifacts directory under `--work-dir` (default: a temporary directory, removed at the
end) and its own PREFECT_HOME there unless one is set, so nothing is shared with
another developer's runs. Its stdout and stderr are echoed as they come. `--quick`
passes the small sizes listed in `BENCHMARKS` (the tiny model for `orchestrator_footprint`)
and skips `train_cpu` (SmolLM2 only, ~14 GB, ~10 min). The output file gets the date,
the machine and its load, a summary table built from every script's `RESULT` lines (see
`headline.py`), then per benchmark its command, duration, exit code, the markdown tables
it printed and its full stdout. Exits 1 if a benchmark that ran exited non-zero.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TextIO

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.headline import FIELDS, parse  # noqa: E402

STDERR_TAIL = 40


@dataclass(frozen=True)
class Benchmark:
    """A script, where it may keep its files, and its `--quick` arguments (None: skipped)."""

    script: str
    dir_option: str | None = "--work-dir"
    quick: tuple[str, ...] | None = ()
    skip_note: str = ""


BENCHMARKS: dict[str, Benchmark] = {
    "data_stage": Benchmark("data_stage.py", quick=("--rows", "100000")),
    "train_cpu": Benchmark("train_cpu.py", quick=None,
                           skip_note="SmolLM2 only (~14 GB, ~10 min): not run by --quick"),
    "learning_check": Benchmark("learning_check.py", quick=("--steps", "8", "--window", "3")),
    "parse_rate": Benchmark("parse_rate.py", dir_option="--artifacts-dir",
                            quick=("--model", "tiny", "--limit", "8", "--samples", "2",
                                   "--max-new-tokens", "16")),
    "eval_throughput": Benchmark("eval_throughput.py", dir_option="--artifacts-dir",
                                 quick=("--model", "tiny", "--prompts", "16",
                                        "--max-new-tokens", "16")),
    "cached_rerun": Benchmark("cached_rerun.py", quick=("--model", "tiny-qwen2")),
    "orchestration_overhead": Benchmark("orchestration_overhead.py"),
    "orchestrator_footprint": Benchmark("orchestrator_footprint.py", quick=("--quick",)),
}


@dataclass
class Outcome:
    """What one benchmark did: command, exit code, seconds, stdout, end of stderr."""

    name: str
    command: list[str]
    returncode: int | None = None  # None: skipped
    seconds: float = 0.0
    stdout: str = ""
    stderr_tail: str = ""
    note: str = ""
    load: tuple[float, float] = (0.0, 0.0)


# --------------------------------------------------------------------------- running


def command(bench: Benchmark, quick: bool, bench_dir: Path, work: Path) -> list[str]:
    args = [sys.executable, str(bench_dir / bench.script)]
    if bench.dir_option:
        args += [bench.dir_option, str(work)]
    if quick:
        args += bench.quick or ()
    return args


def child_env(work: Path) -> dict[str, str]:
    """The repository first on PYTHONPATH; a private PREFECT_HOME unless one is set."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("PREFECT_HOME", str(work / "prefect-home"))
    return env


def run_one(name: str, cmd: list[str], work: Path) -> Outcome:
    """Run one benchmark, echoing its output; keep its stdout and the end of its stderr."""
    work.mkdir(parents=True, exist_ok=True)
    print(f"\n[run_all] {name}: {shlex.join(cmd)}", file=sys.stderr, flush=True)
    load_before, started = os.getloadavg()[0], time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=child_env(work), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, bufsize=1)
    assert proc.stdout is not None and proc.stderr is not None
    tail: deque[str] = deque(maxlen=STDERR_TAIL)
    reader = threading.Thread(target=_echo, args=(proc.stderr, sys.stderr, tail.append),
                              daemon=True)
    reader.start()
    lines: list[str] = []
    _echo(proc.stdout, sys.stdout, lines.append)
    returncode = proc.wait()
    reader.join()
    seconds = time.perf_counter() - started
    print(f"[run_all] {name}: exit {returncode} after {seconds:.0f} s", file=sys.stderr,
          flush=True)
    return Outcome(name, cmd, returncode, seconds, "".join(lines), "".join(tail),
                   load=(load_before, os.getloadavg()[0]))


def _echo(stream: IO[str], out: TextIO, keep: Callable[[str], None]) -> None:
    """Copy a child's stream to ours line by line (live progress) and keep each line."""
    for line in stream:
        out.write(line)
        out.flush()
        keep(line)


# --------------------------------------------------------------------------- report


def tables(text: str) -> list[str]:
    """The markdown tables in a benchmark's output: runs of lines starting with `|`."""
    found: list[list[str]] = []
    previous_was_table = False
    for line in text.splitlines():
        is_table = line.startswith("|")
        if is_table and not previous_was_table:
            found.append([])
        if is_table:
            found[-1].append(line)
        previous_was_table = is_table
    return ["\n".join(block) for block in found]


def machine() -> str:
    """Cores, memory, Python and the checkout's commit."""
    memory = "?"
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 2**20:.0f} GB"
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = " + uncommitted changes" if _git("status", "--porcelain") else ""
    return (f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
            f"{memory} RAM, Python {platform.python_version()}, commit {commit}{dirty}")


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          check=False)
    return done.stdout.strip()


def summary_table(outcomes: list[Outcome]) -> str:
    """One row per RESULT line; a row per benchmark that printed none (skipped, failed)."""
    lines = ["| benchmark | metric | value | baseline | target | result | exit | s |",
             "|---|---|---:|---|---|---|---:|---:|"]
    for outcome in outcomes:
        exit_cell = "skipped" if outcome.returncode is None else str(outcome.returncode)
        results = parse(outcome.stdout)
        if not results:
            lines.append(f"| {outcome.name} | {outcome.note or 'no RESULT line'} | | | | | "
                         f"{exit_cell} | {outcome.seconds:.0f} |")
        for result in results:
            cells = " | ".join(result.get(key, "") for key in FIELDS[1:])
            lines.append(f"| {outcome.name} | {cells} | {exit_cell} | {outcome.seconds:.0f} |")
    return "\n".join(lines)


def section(outcome: Outcome) -> str:
    """A benchmark's command, exit code, duration, tables and full stdout."""
    parts = [f"## {outcome.name}", ""]
    if outcome.returncode is None:
        return "\n".join([*parts, f"Skipped: {outcome.note}", ""])
    parts += [f"`{shlex.join(outcome.command)}`", "",
              f"Exit {outcome.returncode} after {outcome.seconds:.0f} s; 1-min load average "
              f"{outcome.load[0]:.1f} before, {outcome.load[1]:.1f} after.", ""]
    for table in tables(outcome.stdout):
        parts += [table, ""]
    if outcome.returncode != 0:
        parts += ["End of stderr:", "", "```text", outcome.stderr_tail.rstrip(), "```", ""]
    parts += ["<details><summary>full stdout</summary>", "", "```text",
              outcome.stdout.rstrip(), "```", "", "</details>", ""]
    return "\n".join(parts)


def report(outcomes: list[Outcome], argv: list[str], started: str,
           load: tuple[tuple[float, ...], tuple[float, ...]]) -> str:
    def averages(values: tuple[float, ...]) -> str:
        return " / ".join(f"{value:.1f}" for value in values)

    head = [
        "# Benchmark results", "",
        f"- date: {started}",
        f"- command: `{shlex.join(['python', 'benchmarks/run_all.py', *argv])}`",
        f"- machine: {machine()}",
        f"- load average (1 / 5 / 15 min): {averages(load[0])} before, "
        f"{averages(load[1])} after",
        "", "## Summary", "", summary_table(outcomes), "",
    ]
    return "\n".join(head + [section(outcome) for outcome in outcomes])


# --------------------------------------------------------------------------- main


def chosen(only: str | None, benchmarks: Mapping[str, Benchmark],
           parser: argparse.ArgumentParser) -> list[str]:
    if not only:
        return list(benchmarks)
    names = [name.strip() for name in only.split(",") if name.strip()]
    unknown = [name for name in names if name not in benchmarks]
    if unknown:
        parser.error(f"unknown benchmarks {unknown}; choose from {list(benchmarks)}")
    return names


def main(argv: list[str] | None = None, benchmarks: Mapping[str, Benchmark] = BENCHMARKS,
         bench_dir: Path = BENCH_DIR) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes; skip train_cpu")
    parser.add_argument("--only", help=f"comma-separated, from: {', '.join(benchmarks)}")
    parser.add_argument("--output", type=Path, default=bench_dir / "results.md")
    parser.add_argument("--work-dir", type=Path, help="keep every benchmark's files here")
    args = parser.parse_args(argv)
    names = chosen(args.only, benchmarks, parser)
    work = (args.work_dir or Path(tempfile.mkdtemp(prefix="rm-bench-all-"))).resolve()
    started, load_before = time.strftime("%Y-%m-%d %H:%M %Z"), os.getloadavg()
    outcomes = []
    try:
        for name in names:
            bench = benchmarks[name]
            cmd = command(bench, args.quick, bench_dir, work / name)
            if args.quick and bench.quick is None:
                outcomes.append(Outcome(name, cmd, note=bench.skip_note))
                continue
            outcomes.append(run_one(name, cmd, work / name))
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report(outcomes, argv, started, (load_before, os.getloadavg())))
    print(f"[run_all] wrote {args.output}", file=sys.stderr)
    failed = [o.name for o in outcomes if o.returncode not in (None, 0)]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
