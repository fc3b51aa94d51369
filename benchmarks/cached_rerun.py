"""Cost of re-running pointwise-train when nothing changed, against its cold run.

Run on demand, it is not a test:

    python benchmarks/cached_rerun.py [--config CONFIG] [--model tiny-qwen2|smollm2-135m]
        [--work-dir DIR]

Three runs of the pointwise-train flow on the same config, in one process, in a fresh
artifacts directory: **cold** (every stage computed: data, model, learning signal,
training on a private Ray head, merging, evaluation), **forced** (`force=true`: the skip
is overridden, so every stage runs and must answer from its cache) and **nightly** (the
default: nothing changed since this judge was trained and decided on, so the run skips
training and evaluation).
Prefect runs against `PREFECT_API_URL` when it is set, else its ephemeral server (its
start-up is paid in the cold run, before the timer of the first flow starts).
Prints a markdown table with wall times and each re-run's ratio to the cold run against
the 10% target.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.headline import headline  # noqa: E402

TARGET = 0.10


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/pointwise_helpsteer2_sample.yaml")
    parser.add_argument("--model", default=None, help="override training.model_path")
    parser.add_argument("--work-dir", default=None, help="keep the artifacts here")
    args = parser.parse_args(argv)

    from prefect import flow

    from flows.pointwise_train import pointwise_train

    @flow
    def warm_up() -> None:
        """Pays the ephemeral server's start-up outside the timed runs."""

    warm_up()
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="rm-bench-rerun-"))
    times: dict[str, float] = {}
    for name, force in (("cold", False), ("forced (all stages cached)", True),
                        ("nightly (skipped: nothing changed)", False)):
        started = time.perf_counter()
        result = pointwise_train(args.config, model_path=args.model,
                                 artifacts_dir=str(work / "artifacts"), force=force)
        times[name] = time.perf_counter() - started
        print(f"{name}: {times[name]:.1f} s"
              + (f" - skipped: {result.skipped[:80]}..." if result.skipped else ""))

    cold = times["cold"]
    print(f"\nconfig {args.config}, model {args.model or 'from config'}, "
          f"load {os.getloadavg()[0]:.1f}, artifacts {work}\n")
    print("| run | s | / cold | target | result |\n|---|---:|---:|---:|---|")
    for name, seconds in times.items():
        if name == "cold":
            print(f"| {name} | {seconds:.1f} | 1.00 | | |")
            continue
        ratio = seconds / cold
        verdict = "PASS" if ratio <= TARGET else "MISS"
        print(f"| {name} | {seconds:.1f} | {ratio:.3f} | <= {TARGET:.2f} | {verdict} |")
        headline("cached_rerun", f"{name} / cold", f"{ratio:.3f}", f"{cold:.1f} s cold run",
                 f"<= {TARGET:.2f}", verdict)
    return 0


if __name__ == "__main__":
    sys.exit(main())
