"""Benchmark of CPU GRPO steps of the embedded default: today's settings vs the cpu profile.

Run on demand, it is not a test (one SmolLM2 job at a time: it peaks at ~14 GB RSS):

    python benchmarks/train_cpu.py [--steps 2] [--rounds 1] [--work-dir DIR] [--model-cache DIR]

It runs the default job without Prefect, the way `tests/test_training_job.py` does: the
data stage on the embedded sample (answer prefix `<score>`), SmolLM2-135M-Instruct
converted by `rm_core.embedded_models.smollm2_hf`, 4 prompts x rollout n 4 a step, for
`--steps` steps without validation or wandb, submitted as a Ray job to a private
`LocalRayCluster`. Two settings, interleaved (`--rounds` times: the profile, then
today's), on the same data in the same order (verl's seeded shuffle), so the same
prompts every step:

* **today**: the settings before `rm_core.training.cpu_steps`: prompts left-padded to
  1024 tokens, responses to 64, no stop at the closing tag, every group updated;
* **cpu profile**: the profile's defaults (per-batch padding, stop at `</score>`,
  uniform groups left out of the update).

Then, in this process, the actor update of each profile step is compared with a plain
PyTorch step of the same model on as many rows of the same width (the step's longest
prompt + longest response, random token ids: the cost does not depend on them):
forward + backward in micro-batches of 4 under bf16 autocast with fp32 master weights
(as verl's FSDP mixed precision computes), then AdamW.

It prints, per job and step, verl's own timings (`timing_s/*`), the CPU seconds the
job's processes used meanwhile (and so how many of the 2 cores it got on a shared
machine), tokens (`perf/total_num_tokens`, prompt + response) and the kept groups;
per job the peak memory (the sum over every process of the Ray head, job driver
included, sampled every second: RSS, and PSS at the RSS peak); then the comparison of
the mean phases and the update against plain PyTorch, with the targets (step <= 0.5x
today's, update <= 1.5x plain). The job's log is streamed by Ray's log tail, which polls
every second. The previous run's checkpoints are deleted first.
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
from rm_core.artifacts import is_complete  # noqa: E402
from rm_core.cluster.job_log import follow  # noqa: E402
from rm_core.cluster.jobs import raise_for_status, submit_or_attach  # noqa: E402
from rm_core.cluster.local_head import LocalRayCluster  # noqa: E402
from rm_core.config import DataConfig, TemplateConfig  # noqa: E402
from rm_core.data import stage as data_stage  # noqa: E402
from rm_core.data.sources import fetch  # noqa: E402
from rm_core.embedded_models import build_tiny_qwen2, smollm2_hf  # noqa: E402
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
    "generate s": "timing_s/gen",
    "old log-prob s": "timing_s/old_log_prob",
    "ref s": "timing_s/ref",
    "update s": "timing_s/update_actor",
    "save s": "timing_s/save_checkpoint",
    "step s": "timing_s/step",
}
# The settings before rm_core.training.cpu_steps, against the cpu profile's defaults.
SETTINGS: dict[str, dict[str, Any]] = {
    "today": {"grpo": {"max_prompt_length": 1024, "max_response_length": 64},
              "cpu": {"trim_padding": False, "stop_at_answer": False,
                      "drop_uniform_groups": False}},
    "cpu profile": {"grpo": {}, "cpu": {}},
}
ROLLOUT_N, PROMPTS, MICRO_BATCH = 4, 4, 4


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2, help="steps per job")
    parser.add_argument("--model", choices=("smollm2", "tiny"), default="smollm2",
                        help="tiny: the random tiny Qwen2, to check the script in a minute")
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds of (today, cpu profile) jobs")
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
                phases = ", ".join(f"{title} {metrics.get(key, 0.0):.1f}"
                                   for title, key in PHASES.items())
                print(f"step {int(metrics['step'])}: {phases}", flush=True)


def model_cache(args: argparse.Namespace) -> Path:
    """Where SmolLM2 is (or will be) converted."""
    if args.model_cache is not None:
        return args.model_cache
    if is_complete(SHARED_MODEL_CACHE / MODEL_FOLDER):
        return SHARED_MODEL_CACHE
    return args.work_dir / "models"


def bench_spec(steps: int, settings: dict[str, Any]) -> TrainSpec:
    """The embedded-default cpu job under `settings`, `steps` steps, no validation/wandb."""
    grpo = {"rollout_n": ROLLOUT_N, "train_batch_size": PROMPTS,
            "total_training_steps": steps, **settings["grpo"]}
    return TrainSpec(grpo=grpo, cpu=settings["cpu"], test_freq=-1, val_before_train=False,
                     wandb={"enabled": False})


@dataclass
class Job:
    """One finished job: its settings' name, step metrics and sampled processes."""

    name: str
    log: JobLog
    sampler: ProcessSampler


def run_job(args: argparse.Namespace, model: Path, verl: Any, data: DataConfig,
            name: str) -> Job:
    """The job of `SETTINGS[name]` on a fresh private Ray head, its processes sampled."""
    spec = bench_spec(args.steps, SETTINGS[name])
    out = args.work_dir / "run"
    shutil.rmtree(out, ignore_errors=True)
    paths = run.run_paths(spec, verl, model, out, data)
    job = training_job(spec, paths, f"bench-train-{time.strftime('%Y%m%d-%H%M%S')}")
    print(f"--- {name}", flush=True)
    with LocalRayCluster(num_cpus=THREADS) as cluster, ProcessSampler(cluster) as sampler:
        client = cluster.client()
        log = JobLog(submitted=time.perf_counter())
        submit_or_attach(client, job.submission_id, job.entrypoint, job.runtime_env,
                         job.metadata)
        status = follow(client, job.submission_id, log.feed, status_every_s=1)
        log.ended = time.perf_counter()
        raise_for_status(client, job.submission_id, status)
    return Job(name, log, sampler)


# --------------------------------------------------------------------------- plain PyTorch


class PlainUpdate:
    """A plain PyTorch actor update of the same model: fp32 weights and AdamW, forward and
    backward under bf16 autocast in micro-batches of `MICRO_BATCH`, one optimizer step."""

    def __init__(self, model_path: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        torch.set_num_threads(THREADS)
        self.model = AutoModelForCausalLM.from_pretrained(model_path, torch_dtype=torch.float32)
        self.model.train()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-6)

    def seconds(self, rows: int, width: int, repeats: int = 3) -> float:
        """Best of `repeats` update steps over `rows` sequences of `width` tokens."""
        import torch

        vocab = self.model.config.vocab_size
        times = []
        for _ in range(repeats + 1):  # the first one warms up
            started = time.perf_counter()
            for first in range(0, rows, MICRO_BATCH):
                ids = torch.randint(vocab, (min(MICRO_BATCH, rows - first), width))
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    loss = self.model(input_ids=ids, labels=ids).loss
                (loss * len(ids) / rows).backward()
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            times.append(time.perf_counter() - started)
        return min(times[1:])


# --------------------------------------------------------------------------- report


def step_row(job: Job, metrics: dict[str, float], arrived: float) -> dict[str, Any]:
    """verl's timings, CPU use, tokens and kept groups of one step."""
    row: dict[str, Any] = {"job": job.name, "step": int(metrics["step"])}
    row |= {title: metrics.get(key, 0.0) for title, key in PHASES.items()}
    row["job CPU s"] = job.sampler.cpu_between(arrived - row["step s"], arrived)
    row["cores busy"] = row["job CPU s"] / row["step s"]
    row["tokens"] = metrics.get("perf/total_num_tokens", 0.0)
    row["width"] = int(metrics.get("prompt_length/max", 0) + metrics.get("response_length/max", 0))
    row["groups kept"] = int(metrics.get("dynamic_sampling/kept_groups", PROMPTS))
    return row


def markdown(rows: list[dict[str, Any]]) -> str:
    """A markdown table of `rows` (same keys), numbers with one decimal."""
    def cell(value: Any) -> str:
        return f"{value:,.1f}" if isinstance(value, float) else str(value)

    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(cell(row[key]) for key in keys) + " |" for row in rows]
    return "\n".join(lines)


def padded_width(job: Job, metrics: dict[str, float]) -> int:
    """Positions each row of the step's passes covers: today's are padded to the limits."""
    if job.name == "today":
        grpo = SETTINGS["today"]["grpo"]
        return grpo["max_prompt_length"] + grpo["max_response_length"]
    return int(metrics.get("prompt_length/max", 0) + metrics.get("response_length/max", 0))


def comparison(jobs: list[Job], plain: PlainUpdate) -> tuple[list[dict[str, Any]], dict]:
    """Mean phases per setting, and each profile step's update against plain PyTorch."""
    means = []
    for name in SETTINGS:
        steps = [m for job in jobs if job.name == name for m in job.log.steps]
        row: dict[str, Any] = {"setting": name}
        row |= {title: statistics.mean(m.get(key, 0.0) for m in steps)
                for title, key in PHASES.items()}
        row["positions / row"] = statistics.mean(padded_width(job, m) for job in jobs
                                                 if job.name == name for m in job.log.steps)
        row["peak RSS GB"] = max(job.sampler.peak_rss for job in jobs if job.name == name) / GB
        means.append(row)
    ratio = {title: means[1][title] / means[0][title] if means[0][title] else float("nan")
             for title in PHASES}
    means.append({"setting": "profile / today", **{t: f"{v:.2f}x" for t, v in ratio.items()},
                  **{key: f"{means[1][key] / means[0][key]:.2f}x"
                     for key in ("positions / row", "peak RSS GB")}})
    updates = []
    for job in (job for job in jobs if job.name == "cpu profile"):
        for metrics in job.log.steps:
            rows = int(metrics.get("dynamic_sampling/kept_groups", PROMPTS)) * ROLLOUT_N
            width = padded_width(job, metrics)
            plain_s = plain.seconds(rows, width) if rows else 0.0
            verl_s = metrics.get("timing_s/update_actor", 0.0)
            updates.append({"step": int(metrics["step"]), "rows updated": rows,
                            "width": width, "verl update s": verl_s, "plain PyTorch s": plain_s,
                            "ratio": f"{verl_s / plain_s:.2f}x" if plain_s else "skipped"})
    return means, {"updates": updates, "step ratio": ratio["step s"]}


def main() -> None:
    args = parse_args()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    if args.model == "tiny":
        model = build_tiny_qwen2(args.work_dir / "tiny-qwen2")
    else:
        model = smollm2_hf(model_cache(args))
    data = DataConfig(template=TemplateConfig(answer_prefix="<score>"))
    ingested = data_stage.ingest(fetch(data.source, args.work_dir), data, args.work_dir)
    verl = data_stage.to_verl(data_stage.split(ingested, data, args.work_dir), data,
                              args.work_dir)
    load_before = os.getloadavg()[0]
    peaks = {name: matmul_gflops(name) for name in ("float32", "bfloat16")}
    jobs = [run_job(args, model, verl, data, name)  # the profile first: it is the quicker
            for _ in range(args.rounds) for name in reversed(SETTINGS)]
    plain = PlainUpdate(model)
    means, compared = comparison(jobs, plain)
    parameters = sum(weight.numel() for weight in plain.model.parameters())
    print(f"\n{model.name} ({parameters:,} parameters), {PROMPTS} prompts x n {ROLLOUT_N}, "
          f"{args.steps} steps x {args.rounds} round(s) per setting, "
          f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, 1-min load average "
          f"{load_before:.1f} before / {os.getloadavg()[0]:.1f} after; matmul "
          f"{peaks['float32']:.0f} GFLOP/s fp32, {peaks['bfloat16']:.0f} bf16\n")
    print(markdown([step_row(job, m, arrived) for job in jobs
                    for m, arrived in zip(job.log.steps, job.log.arrivals, strict=True)]))
    print()
    print(markdown(means))
    print()
    print(markdown(compared["updates"]))
    step_ratio = compared["step ratio"]
    update_ratios = [u["verl update s"] / u["plain PyTorch s"] for u in compared["updates"]
                     if u["plain PyTorch s"]]
    headline("train_cpu", "s per GRPO step, cpu profile (mean)",
             f"{means[1]['step s']:.1f} s", f"{means[0]['step s']:.1f} s today",
             "<= 0.5x today", "PASS" if step_ratio <= 0.5 else "MISS")
    if update_ratios:
        worst = max(update_ratios)
        headline("train_cpu", "actor update / plain PyTorch step (worst step)", f"{worst:.2f}x",
                 "bf16 autocast, fp32 AdamW", "<= 1.5x", "PASS" if worst <= 1.5 else "MISS")


if __name__ == "__main__":
    main()
