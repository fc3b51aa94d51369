"""Benchmark of one CPU GRPO job of the embedded default: SmolLM2-135M on the sample data.

Run on demand, it is not a test (one SmolLM2 job at a time: it peaks at ~14 GB RSS):

    python benchmarks/train_cpu.py [--steps 2] [--work-dir DIR] [--model-cache DIR]

It runs the default job without Prefect, the way `tests/test_training_job.py` does: the
data stage on the embedded sample (answer prefix `<score>`), SmolLM2-135M-Instruct
converted by `rm_core.embedded_models.smollm2_hf`, the cpu profile (rollout n 4, 4 prompts a step,
64 response tokens) for `--steps` steps without validation or wandb, submitted as a Ray
job to a private `LocalRayCluster`. The job's log is streamed by Ray's log tail, which
polls the log file every second, so the time to the first `step:1` line is accurate to
about a second. The previous run's checkpoints are deleted first.

It prints a markdown table per step of verl's own timings (`timing_s/*`), the CPU
seconds the job's processes used meanwhile (and so how many of the 2 cores it got on a
shared machine), tokens (`perf/total_num_tokens`, prompt + response) and tokens/s, then
a summary: time to the first step, peak memory of the job (the sum over every process of
the Ray head, job driver included, sampled every second: RSS, and PSS at the RSS peak,
which counts shared pages once) and the model-FLOPs utilisation of the actor update,
6 x parameters x tokens / update seconds (attention FLOPs ignored), against this
machine's matmul throughput measured before and after the job (1024 x 1024, 2 threads,
best of the two). verl computes the actor in bf16 (FSDP mixed precision, fp32 master
weights), so both fp32 and bf16 peaks are given.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.headline import headline  # noqa: E402
from rm_core.artifacts import is_complete, read_result  # noqa: E402
from rm_core.cluster.job_log import follow  # noqa: E402
from rm_core.cluster.jobs import raise_for_status, submit_or_attach  # noqa: E402
from rm_core.cluster.local_head import LocalRayCluster  # noqa: E402
from rm_core.config import DataConfig, TemplateConfig  # noqa: E402
from rm_core.data import stage as data_stage  # noqa: E402
from rm_core.data.sources import fetch  # noqa: E402
from rm_core.embedded_models import smollm2_hf  # noqa: E402
from rm_core.training import run  # noqa: E402
from rm_core.training.job import training_job  # noqa: E402
from rm_core.training.monitor import iter_metrics  # noqa: E402
from rm_core.training.spec import TrainSpec  # noqa: E402

# Another session's converted copy: reused when complete, it saves the conversion.
SHARED_MODEL_CACHE = Path("/tmp/lsig/cache")
MODEL_FOLDER = "SmolLM2-135M-Instruct-hf"
THREADS = 2
GB = 1e9
PHASES = {
    "generation s": "timing_s/gen",
    "old log-prob s": "timing_s/old_log_prob",
    "ref s": "timing_s/ref",
    "update s": "timing_s/update_actor",
    "save s": "timing_s/save_checkpoint",
    "step s": "timing_s/step",
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--work-dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "rm-bench-train")
    parser.add_argument("--model-cache", type=Path, default=None,
                        help=f"default: {SHARED_MODEL_CACHE} if it holds a converted "
                             "model, else WORK_DIR/models")
    return parser.parse_args()


# --------------------------------------------------------------------------- machine


def matmul_gflops(dtype_name: str, size: int = 1024, seconds: float = 3.0) -> float:
    """GFLOP/s of repeated `size`x`size` matmuls in this process with `THREADS` threads."""
    import torch

    torch.set_num_threads(THREADS)
    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    torch.matmul(a, b)  # warm-up
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        torch.matmul(a, b)
        count += 1
    return 2 * size**3 * count / elapsed / 1e9


def matmul_peaks() -> dict[str, float]:
    """fp32 and bf16 matmul GFLOP/s right now."""
    return {name: matmul_gflops(name) for name in ("float32", "bfloat16")}


@dataclass
class ProcessSampler:
    """Samples a cluster's processes every `interval_s`: summed RSS and CPU seconds.

    PSS (shared pages counted once) costs a walk of every mapping, ~35 ms for an 8 GB
    worker, so it is read only when the RSS sum reaches a new peak.
    """

    cluster: LocalRayCluster
    interval_s: float = 1.0
    peak_rss: int = 0
    pss_at_peak: int = 0
    cpu: list[tuple[float, float]] = field(default_factory=list)  # (time, CPU s so far)
    # Last CPU seconds read per process, kept after it exits so the total never drops.
    _cpu_by_process: dict[tuple[int, float], float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def sample(self) -> None:
        """One reading of every live process of the head (job driver included)."""
        import psutil

        procs = self._processes()
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                key = (proc.pid, proc.create_time())
                self._cpu_by_process[key] = sum(proc.cpu_times()[:2])
        self.cpu.append((time.perf_counter(), sum(self._cpu_by_process.values())))
        rss = _total(procs, lambda proc: proc.memory_info().rss)
        if rss > self.peak_rss:
            self.peak_rss = rss
            self.pss_at_peak = _total(procs, lambda proc: proc.memory_full_info().pss)

    def _processes(self) -> list[Any]:
        return list(self.cluster.processes())

    def cpu_between(self, start: float, end: float) -> float:
        """CPU seconds the processes used between two `time.perf_counter()` readings."""
        def at(moment: float) -> float:
            return min(self.cpu, key=lambda sample: abs(sample[0] - moment))[1]

        return at(end) - at(start)


def _total(procs: list[Any], read: Callable[[Any], float]) -> Any:
    """Sum of `read(proc)` over the processes that are still there."""
    import psutil

    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            total += read(proc)
    return total


# --------------------------------------------------------------------------- job


@dataclass
class JobLog:
    """Step metrics of a job's log and when each step line arrived."""

    submitted: float
    ended: float | None = None
    steps: list[dict[str, float]] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)

    def feed(self, lines: list[str]) -> None:
        for metrics in iter_metrics(lines):
            if "timing_s/step" in metrics:
                self.steps.append(metrics)
                self.arrivals.append(time.perf_counter())
                print(f"step {int(metrics['step'])}: {metrics['timing_s/step']:.1f} s",
                      flush=True)


def model_cache(args: argparse.Namespace) -> Path:
    """Where SmolLM2 is (or will be) converted."""
    if args.model_cache is not None:
        return args.model_cache
    if is_complete(SHARED_MODEL_CACHE / MODEL_FOLDER):
        return SHARED_MODEL_CACHE
    return args.work_dir / "models"


def default_spec(steps: int) -> TrainSpec:
    """The embedded-default cpu job, `steps` steps, no validation, no wandb."""
    grpo = {"rollout_n": 4, "train_batch_size": 4, "max_response_length": 64,
            "total_training_steps": steps}
    return TrainSpec(grpo=grpo, test_freq=-1, val_before_train=False,
                     wandb={"enabled": False})


def run_job(args: argparse.Namespace, model: Path) -> tuple[JobLog, ProcessSampler]:
    """Data stage, then the job on a fresh private Ray head, its processes sampled."""
    data = DataConfig(template=TemplateConfig(answer_prefix="<score>"))
    ingested = data_stage.ingest(fetch(data.source, args.work_dir), data, args.work_dir)
    verl = data_stage.to_verl(data_stage.split(ingested, data, args.work_dir), data,
                              args.work_dir)
    spec = default_spec(args.steps)
    out = args.work_dir / "run"
    shutil.rmtree(out, ignore_errors=True)
    paths = run.run_paths(spec, verl, model, out, data)
    job = training_job(spec, paths, f"bench-train-{time.strftime('%Y%m%d-%H%M%S')}")
    with LocalRayCluster(num_cpus=THREADS) as cluster, ProcessSampler(cluster) as sampler:
        client = cluster.client()
        log = JobLog(submitted=time.perf_counter())
        submit_or_attach(client, job.submission_id, job.entrypoint, job.runtime_env,
                         job.metadata)
        status = follow(client, job.submission_id, log.feed, status_every_s=1)
        log.ended = time.perf_counter()
        raise_for_status(client, job.submission_id, status)
    return log, sampler


# --------------------------------------------------------------------------- report


def step_row(metrics: dict[str, float], arrived: float, sampler: ProcessSampler,
             parameters: int) -> dict[str, Any]:
    """verl's timings, CPU use, tokens, tokens/s and update GFLOP/s of one step."""
    row: dict[str, Any] = {"step": int(metrics["step"])}
    row |= {title: metrics.get(key, 0.0) for title, key in PHASES.items()}
    row["job CPU s"] = sampler.cpu_between(arrived - row["step s"], arrived)
    row["cores busy"] = row["job CPU s"] / row["step s"]
    tokens = metrics.get("perf/total_num_tokens", metrics.get("global_seqlen/mean", 0.0))
    row["tokens"] = tokens
    row["tokens/s"] = tokens / row["step s"]
    row["update GFLOP/s"] = 6 * parameters * tokens / row["update s"] / 1e9
    return row


def mean_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {key: "mean" if key == "step" else statistics.mean(row[key] for row in rows)
            for key in rows[0]}


def markdown(rows: list[dict[str, Any]]) -> str:
    """A markdown table of `rows` (same keys), numbers with one decimal."""
    def cell(value: Any) -> str:
        return f"{value:,.1f}" if isinstance(value, float) else str(value)

    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(cell(row[key]) for key in keys) + " |" for row in rows]
    return "\n".join(lines)


def summary(log: JobLog, sampler: ProcessSampler, update_gflops: float,
            peaks: dict[str, float]) -> list[dict[str, str]]:
    """The headline figures, one row each."""
    assert log.ended is not None
    first_step_s = log.arrivals[0] - log.submitted
    figures = {
        "time to first step (submit -> `step:1` line)": f"{first_step_s:.0f} s",
        "- of which start-up (before step 1 began)":
            f"{first_step_s - log.steps[0]['timing_s/step']:.0f} s",
        "job wall time (submit -> end)": f"{log.ended - log.submitted:.0f} s",
        "peak RSS, sum over the job's processes": f"{sampler.peak_rss / GB:.1f} GB",
        "PSS at that peak (shared pages once)": f"{sampler.pss_at_peak / GB:.1f} GB",
        f"fp32 matmul, {THREADS} threads": f"{peaks['float32']:.0f} GFLOP/s",
        f"bf16 matmul, {THREADS} threads": f"{peaks['bfloat16']:.0f} GFLOP/s",
        "actor update, 6 x params x tokens / update s": f"{update_gflops:.1f} GFLOP/s",
        "MFU of the update vs fp32 matmul": f"{update_gflops / peaks['float32']:.1%}",
        "MFU of the update vs bf16 matmul": f"{update_gflops / peaks['bfloat16']:.1%}",
    }
    return [{"figure": name, "value": value} for name, value in figures.items()]


def main() -> None:
    args = parse_args()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    model = smollm2_hf(model_cache(args))
    parameters = int(read_result(model)["parameters"])
    load_before, before = os.getloadavg()[0], matmul_peaks()
    log, sampler = run_job(args, model)
    peaks = {name: max(gflops, before[name]) for name, gflops in matmul_peaks().items()}
    rows = [step_row(metrics, arrived, sampler, parameters)
            for metrics, arrived in zip(log.steps, log.arrivals, strict=True)]
    rows.append(mean_row(rows))
    print(f"\nSmolLM2-135M ({parameters:,} parameters), {len(log.steps)} GRPO steps, "
          f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, 1-min load average "
          f"{load_before:.1f} before / {os.getloadavg()[0]:.1f} after\n")
    print(markdown(rows))
    print()
    print(markdown(summary(log, sampler, rows[-1]["update GFLOP/s"], peaks)))
    headline("train_cpu", "s per GRPO step (mean)", f"{rows[-1]['step s']:.1f} s")
    mfu = rows[-1]["update GFLOP/s"] / peaks["float32"]
    headline("train_cpu", "actor update MFU", f"{mfu:.1%}",
             f"{peaks['float32']:.0f} GFLOP/s fp32 matmul")


if __name__ == "__main__":
    main()
