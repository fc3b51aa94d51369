"""The flow-run process's memory, and its evaluation stage against the old in-process one.

Run on demand, it is not a test:

    python benchmarks/orchestrator_footprint.py [--quick] [--config CONFIG] [--model NAME]
        [--max-steps N] [--work-dir DIR]

Since every stage that loads a model runs as a Ray job, the process that runs a flow
should stay small. Two child processes, one after the other:

1. **flow**: `pointwise-train` end to end (the embedded default: the sample config,
   SmolLM2-135M, 2 GRPO steps) in a fresh artifacts directory, with the private local Ray
   head the flow starts (no stack). Prefect runs against `PREFECT_API_URL` when it is
   set, else its ephemeral server. That process's own RSS is sampled every 0.5 s (psutil),
   without its children (the Prefect server, the `ray start` head and everything under
   it); the children seen are listed to show what was left out. Target: peak < 600 MB.
   Afterwards it reads the evaluate-checkpoints subflow's task runs from Prefect:
   merge-checkpoints (one merge job) and judge-models (one judging job).
2. **in-process**: what the old flow process did itself, on the same inputs: the merge
   job's checkpoints merged with `rm_core.evaluation.stage.merged_model` and the judging
   job's models (the scratch-merged folders for the checkpoints) judged with `judge_into`
   on the same rows and settings, into a scratch directory. torch and transformers are
   imported before the clock starts: the old flow process had them from its in-process
   learning-signal check. Target: flow (jobs) / in-process, merge + judge, <= 1.1x.

Both children run `benchmarks/footprint_children.py`'s code through this script.
`--quick` is `--model tiny-qwen2 --max-steps 1` (a couple of minutes; its figures say
nothing about the targets). The default needs ~13 GB and ~10 min: run it alone.
Progress goes to stderr; tables and RESULT lines to stdout. Exits 1 if a child fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.footprint_children import (  # noqa: E402
    EVALUATION_JOBS,
    evaluate_child,
    flow_child,
)
from benchmarks.headline import headline  # noqa: E402

NAME = "orchestrator_footprint"
RSS_TARGET_MB = 600.0
RATIO_TARGET = 1.1
INTERVAL_S = 0.5
MB = 2**20


def say(message: str) -> None:
    print(f"[footprint] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- sampling


@dataclass
class Footprint:
    """What the samples of one process saw: its own RSS, and the children left out."""

    peak_rss: int = 0
    hwm: int = 0  # the kernel's VmHWM of the process, as last read
    samples: int = 0
    series: list[tuple[float, int]] = field(default_factory=list)  # (epoch s, own RSS)
    tree_peak: int = 0  # the process plus all its descendants, for comparison only
    children: dict[int, tuple[str, bool, int]] = field(default_factory=dict)  # cmd, own sid, rss
    seconds: float = 0.0
    returncode: int = 0


def vm_hwm(pid: int) -> int:
    """The process's own RSS high-water mark (bytes), 0 if unreadable."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_sampled(cmd: list[str], env: dict[str, str]) -> Footprint:
    """Run `cmd` (output to our stderr), sampling its own RSS every INTERVAL_S seconds."""
    say(" ".join(cmd))
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=sys.stderr)
    process, seen = psutil.Process(proc.pid), Footprint()
    session = os.getsid(proc.pid)
    while proc.poll() is None:
        try:
            rss, hwm = process.memory_info().rss, vm_hwm(proc.pid)
            tree = rss + sum(_rss(kid) for kid in process.children(recursive=True))
            for kid in process.children():
                cmd, own_session, peak = seen.children.get(kid.pid, ("?", False, 0))
                seen.children[kid.pid] = (_command(kid) if cmd == "?" else cmd,
                                          own_session or _sid(kid) not in (session, -1),
                                          max(peak, _rss(kid)))
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            break
        seen.samples += 1
        seen.series.append((time.time(), rss))
        seen.peak_rss, seen.hwm = max(seen.peak_rss, rss), max(seen.hwm, hwm)
        seen.tree_peak = max(seen.tree_peak, tree)
        time.sleep(INTERVAL_S)
    seen.returncode, seen.seconds = proc.wait(), time.perf_counter() - started
    return seen


def _rss(process: psutil.Process) -> int:
    try:
        return process.memory_info().rss
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return 0


def _sid(process: psutil.Process) -> int:
    try:
        return os.getsid(process.pid)
    except OSError:
        return -1


def _command(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline()[:4])[:90]
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return "?"


# --------------------------------------------------------------------------- report


def report(flow: Footprint, inproc: Footprint, timings: dict[str, Any],
           baseline: dict[str, Any]) -> None:
    """The tables and the two RESULT lines."""
    ratio, old_s = time_tables(timings, baseline)
    memory_tables(flow, inproc, timings)
    peak_mb = flow.peak_rss / MB
    headline(NAME, "peak RSS of the flow-run process", f"{peak_mb:.0f} MB",
             f"{inproc.peak_rss / MB:.0f} MB in-process evaluation", f"< {RSS_TARGET_MB:.0f} MB",
             "PASS" if peak_mb < RSS_TARGET_MB else "MISS")
    headline(NAME, "evaluation (merge + judge): Ray jobs / in-process", f"{ratio:.2f}x",
             f"{old_s:.1f} s in-process", f"<= {RATIO_TARGET}x",
             "PASS" if ratio <= RATIO_TARGET else "MISS")


def time_tables(timings: dict[str, Any], baseline: dict[str, Any]) -> tuple[float, float]:
    """Merge and judge, as jobs and in process, and where the jobs' time went; returns the
    ratio and the in-process seconds."""
    stages = {name.strip(): seconds for name, seconds, _ in timings["stages"]}
    jobs = [stages[task] for task in EVALUATION_JOBS]
    old = [baseline["merge_s"], baseline["judge_s"]]
    print(f"\nmodel {timings['model']}, {timings['steps']} GRPO steps, flow "
          f"{timings['flow_s']:.0f} s, "
          f"{baseline['checkpoints']} checkpoints merged, {baseline['models']} models judged; "
          f"load {os.getloadavg()[0]:.1f}\n")
    print("| evaluation part | flow: Ray job s | in-process s | ratio |\n|---|---:|---:|---:|")
    for label, jobs_s, old_s in zip(("merge", "judge"), jobs, old, strict=True):
        print(f"| {label} | {jobs_s:.1f} | {old_s:.1f} | {jobs_s / old_s:.2f}x |")
    ratio = sum(jobs) / sum(old)
    print(f"| **total** (merge + judge) | {sum(jobs):.1f} | {sum(old):.1f} | {ratio:.2f}x |")
    print(f"| evaluate-checkpoints subflow, whole | "
          f"{stages.get('evaluate-checkpoints (subflow)', float('nan')):.1f} | | |")
    print(f"| torch + transformers import (not counted) | | {baseline['imports_s']:.1f} | |")
    print(f"\nsame predictions as the flow's judging job: {baseline['same_predictions']} of "
          f"{baseline['models']} models\n")
    phases = [timings["phases"].get(task, []) for task in EVALUATION_JOBS]
    print("| where a job task's time went | merge s | judge s |\n|---|---:|---:|")
    for (label, merge_s), (_, judge_s) in zip(*phases, strict=False):
        print(f"| {label} | {merge_s:.1f} | {judge_s:.1f} |")
    return ratio, sum(old)


def memory_tables(flow: Footprint, inproc: Footprint, timings: dict[str, Any]) -> None:
    """Peak RSS of both processes, the flow process's children, its peak per stage."""
    print("\n| process | peak RSS MB (0.5 s samples) | VmHWM MB | samples | wall s |")
    print("|---|---:|---:|---:|---:|")
    for label, seen in (("flow run (pointwise-train)", flow),
                        ("in-process evaluation (merge + judge)", inproc)):
        print(f"| {label} | {seen.peak_rss / MB:.0f} | {seen.hwm / MB:.0f} | {seen.samples} | "
              f"{seen.seconds:.0f} |")
    print(f"\nflow process + all its descendants, peak (for comparison): "
          f"{flow.tree_peak / MB:.0f} MB\n")
    print("| child of the flow process (not counted) | own session | peak RSS MB |")
    print("|---|---|---:|")
    for pid, (cmd, own_session, peak) in flow.children.items():
        print(f"| {pid}: `{cmd}` | {'yes' if own_session else 'no'} | {peak / MB:.0f} |")
    print("\n| stage of the flow run | s | flow process peak RSS MB during it |")
    print("|---|---:|---:|")
    for name, seconds, began in timings["stages"]:
        during = [rss for moment, rss in flow.series if began <= moment <= began + seconds]
        peak = f"{max(during) / MB:.0f}" if during else "-"  # shorter than a sample
        print(f"| {name.replace('  ', '- ', 1)} | {seconds:.1f} | {peak} |")
    print()


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="--model tiny-qwen2 --max-steps 1")
    parser.add_argument("--config", default="configs/pointwise_helpsteer2_sample.yaml")
    parser.add_argument("--model", help="override training.model_path")
    parser.add_argument("--max-steps", type=int, help="override total_training_steps")
    parser.add_argument("--work-dir", help="keep the artifacts and timings here")
    parser.add_argument("--child", choices=("flow", "evaluate"), help=argparse.SUPPRESS)
    parser.add_argument("--artifacts-dir", help=argparse.SUPPRESS)
    parser.add_argument("--scratch", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=2, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "flow":
        return flow_child(args.config, args.model, args.max_steps, args.artifacts_dir,
                          Path(args.out))
    if args.child == "evaluate":
        return evaluate_child(Path(args.artifacts_dir), Path(args.scratch), args.threads,
                              Path(args.out))
    if args.quick:
        args.model, args.max_steps = args.model or "tiny-qwen2", args.max_steps or 1

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="rm-bench-footprint-")).resolve()
    artifacts = work / "artifacts"
    if artifacts.exists():
        parser.error(f"{artifacts} exists: the flow needs a fresh artifacts dir")
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    env.setdefault("PREFECT_HOME", str(work / "prefect-home"))
    # A fresh database on a busy machine: the default 20 s is not always enough.
    env.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # its heartbeat hits a busy DB
    me = [sys.executable, str(Path(__file__).resolve())]
    try:
        flow_cmd = [*me, "--child", "flow", "--config", args.config, "--artifacts-dir",
                    str(artifacts), "--out", str(work / "flow.json")]
        flow_cmd += [*(["--model", args.model] if args.model else []),
                     *(["--max-steps", str(args.max_steps)] if args.max_steps else [])]
        flow = run_sampled(flow_cmd, env)
        if flow.returncode != 0:
            say(f"the flow process exited {flow.returncode}")
            return 1
        timings = json.loads((work / "flow.json").read_text())
        missing = set(EVALUATION_JOBS) - {name.strip() for name, *_ in timings["stages"]}
        if missing:
            say(f"no timings of {sorted(missing)} in the flow run")
            return 1
        inproc = run_sampled([*me, "--child", "evaluate", "--artifacts-dir", str(artifacts),
                              "--scratch", str(work / "in-process"), "--threads",
                              str(timings["threads"]), "--out", str(work / "in-process.json")],
                             env)
        if inproc.returncode != 0:
            say(f"the in-process evaluation exited {inproc.returncode}")
            return 1
        report(flow, inproc, timings, json.loads((work / "in-process.json").read_text()))
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
