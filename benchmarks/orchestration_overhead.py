"""Orchestration overhead: pointwise-train/manual on the local stack against a bare Ray job.

Run on demand, it is not a test:

    python benchmarks/orchestration_overhead.py [--use-stack STATE_DIR] [--work-dir DIR]
        [--timeout-s 1800]

What Prefect and the stack add before a training job does useful work: the time from
triggering `pointwise-train/manual` (`run_deployment`, as `deployments.run` does) to
the job's first GRPO step, minus the time from submitting the same job straight to the
same Ray head (`submit_or_attach`, as `train_cpu.py` does) to its first step. Both are
measured in one invocation, on a tiny config written to the work dir: `tiny-qwen2`,
rollout n 2, 4 prompts, 16 response tokens, 1 step, no validation, no wandb,
evaluation of 8 rows.

Three runs, in this order:

1. **warm-up**: the deployment once, so the data stage, the model and the learning-signal
   check are cached and the Ray head holds the code package. Its time to first step is
   printed too (cold stages), but the overhead figure does not use it.
2. **baseline**: the job submitted directly to the stack's Ray head.
3. **deployment**: the deployment again. Every stage before training answers from its
   cache; training runs, because each run's config differs in
   `max_checkpoints_to_keep` (irrelevant to a 1-step run, but part of the train key).

Both paths are watched the same way: a 1 s poll of the Ray job's log for the `step:1`
line. The deployment path is then broken down with the flow run's state timestamps,
its task runs, Ray's job start time and the Prefect log. Without `--use-stack` the
script brings up its own stack on free ports in the work dir and takes it down at the
end; with it, that running stack is used and left running. Progress goes to stderr,
the tables and a RESULT line to stdout. Exits 1 if a run does not reach step 1 or the
measured deployment run does not complete.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from prefect.client.orchestration import SyncPrefectClient  # noqa: E402
from prefect.client.schemas.filters import (  # noqa: E402
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterParentFlowRunId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.objects import FlowRun  # noqa: E402
from prefect.client.schemas.sorting import LogSort  # noqa: E402
from prefect.deployments import run_deployment  # noqa: E402
from prefect.settings import PREFECT_API_URL, temporary_settings  # noqa: E402
from prefect.states import Cancelling  # noqa: E402
from ray.job_submission import JobStatus, JobSubmissionClient  # noqa: E402

from benchmarks.headline import headline  # noqa: E402
from deployments.prefect_ops import server_healthy  # noqa: E402
from deployments.state import StackSettings, StackState  # noqa: E402
from rm_core.cluster.jobs import submit_or_attach  # noqa: E402
from rm_core.cluster.local_head import LocalRayCluster  # noqa: E402
from rm_core.config import ExperimentConfig, load_experiment  # noqa: E402
from rm_core.data import stage as data_stage  # noqa: E402
from rm_core.data.sources import fetch  # noqa: E402
from rm_core.embedded_models import build_tiny_qwen2  # noqa: E402
from rm_core.training import run  # noqa: E402
from rm_core.training.job import training_job  # noqa: E402
from rm_core.training.monitor import parse_metrics  # noqa: E402

DEPLOYMENT = "pointwise-train/manual"
TARGET_S = 30.0
POLL_S = 1.0
LOG_PAGE = 200
TERMINAL = {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED}
TINY_TRAINING = {
    "profile": "cpu",
    "model_path": "tiny-qwen2",
    "grpo": {"rollout_n": 2, "train_batch_size": 4, "ppo_mini_batch_size": 4,
             "micro_batch_size_per_gpu": 4, "max_prompt_length": 2048,
             "max_response_length": 16, "total_training_steps": 1},
    "save_freq": 1,  # verl 0.5.0 saves nothing with -1, and evaluation needs a checkpoint
    "test_freq": -1,
    "val_before_train": False,
    "wandb": {"enabled": False},
}
# The first stages of the flow, in order: cached after the warm-up.
PRE_TRAINING = ("prepare-data", "prepare-model", "check-for-changes", "check-learning-signal")


def say(message: str) -> None:
    print(f"[overhead] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- setup


def write_config(work: Path, run_name: str, nonce: int) -> Path:
    """The tiny experiment; `nonce` gives each run its own train key and nothing else."""
    config = {
        "name": "orchestration-overhead",
        "artifacts_dir": str(work / "artifacts"),
        "data": {"template": {"answer_prefix": "<score>"}},
        "training": {**TINY_TRAINING, "max_checkpoints_to_keep": nonce},
        "evaluation": {"limit": 8, "max_new_tokens": 16},
    }
    path = work / f"{run_name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stack_cli(command: str, settings: StackSettings) -> None:
    """`python -m deployments.stack COMMAND` on this stack, its output on stderr."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    subprocess.run([sys.executable, "-m", "deployments.stack", command,
                    "--state-dir", str(settings.state_dir),
                    "--prefect-port", str(settings.prefect_port),
                    "--ray-port", str(settings.ray_port)],
                   cwd=REPO_ROOT, env=env, stdout=sys.stderr, check=True)


def running_stack(state_dir: str) -> tuple[StackSettings, StackState]:
    """A stack someone brought up: its ports from its state file; fail if it is down."""
    settings = StackSettings.resolve(state_dir)
    state = StackState.load(settings)
    if not (state.prefect_port and state.ray_port and state.ray):
        raise SystemExit(f"no stack recorded in {settings.state_dir}")
    settings = StackSettings(settings.state_dir, state.prefect_port, state.ray_port)
    if not server_healthy(settings):
        raise SystemExit(f"the stack's Prefect server at {settings.api_url} does not answer")
    return settings, state


# --------------------------------------------------------------------------- watching


@dataclass
class Watch:
    """What the 1 s poll saw of one training job."""

    job_id: str | None = None
    first_step: float | None = None  # epoch s when the `step:1` line was first seen
    step_s: float | None = None  # verl's timing_s/step of step 1
    status: JobStatus | None = None

    def poll(self, ray: JobSubmissionClient) -> None:
        """Read the job's status and, until step 1 shows up, its log."""
        assert self.job_id is not None
        self.status = ray.get_job_status(self.job_id)
        if self.first_step is not None:
            return
        for line in ray.get_job_logs(self.job_id).splitlines():
            metrics = parse_metrics(line)
            if metrics and metrics["step"] == 1 and "timing_s/step" in metrics:
                self.first_step, self.step_s = time.time(), metrics["timing_s/step"]
                say(f"step 1 of {self.job_id} seen ({self.step_s:.1f} s in verl)")
                return


def every_poll(done: Callable[[], bool], timeout_s: float) -> None:
    """Call `done` every POLL_S seconds until it returns True."""
    deadline = time.monotonic() + timeout_s
    while True:
        began = time.monotonic()
        if done():
            return
        if began > deadline:
            raise TimeoutError(f"not done after {timeout_s:.0f} s")
        time.sleep(max(0.0, POLL_S - (time.monotonic() - began)))


def find_job(ray: JobSubmissionClient, run_id: str) -> str | None:
    """The submission id of the job a flow run submitted (its metadata names the run)."""
    for job in ray.list_jobs():
        if (job.metadata or {}).get("run_id") == run_id:
            return job.submission_id
    return None


# --------------------------------------------------------------------------- the two paths


@dataclass
class Timeline:
    """Named moments (epoch s) of one path, from its trigger on."""

    start: float
    events: list[tuple[str, float | None]] = field(default_factory=list)
    stages: list[tuple[str, str, float]] = field(default_factory=list)  # name, state, s
    first_step: float | None = None
    job_started: float | None = None
    end: float | None = None
    final: str = "?"  # the flow run's or the job's final state

    @property
    def to_first_step(self) -> float:
        assert self.first_step is not None
        return self.first_step - self.start


def run_via_deployment(settings: StackSettings, ray: JobSubmissionClient, config: Path,
                       timeout_s: float) -> Timeline:
    """Trigger the deployment, watch it to its end, then read its timeline back."""
    with temporary_settings(updates={PREFECT_API_URL: settings.api_url}):
        triggered = time.time()
        flow_run = run_deployment(DEPLOYMENT, parameters={"config_path": str(config)}, timeout=0)
    say(f"flow run {flow_run.name}: {settings.flow_run_url(flow_run.id)}")
    watch = Watch()
    with SyncPrefectClient(settings.api_url) as prefect:
        def done() -> bool:
            current = prefect.read_flow_run(flow_run.id)
            watch.job_id = watch.job_id or find_job(ray, str(flow_run.id))
            if watch.job_id:
                watch.poll(ray)
            return current.state is not None and current.state.is_final()

        try:
            every_poll(done, timeout_s)
        except (KeyboardInterrupt, TimeoutError):
            prefect.set_flow_run_state(flow_run.id, Cancelling(), force=True)
            raise
        final = prefect.read_flow_run(flow_run.id)
        say(f"flow run {final.name} ended {final.state_name}")
        return deployment_timeline(prefect, ray, final, triggered, watch)


def deployment_timeline(prefect: SyncPrefectClient, ray: JobSubmissionClient, flow_run: FlowRun,
                        triggered: float, watch: Watch) -> Timeline:
    """Run created -> picked up -> running -> stages -> job submitted -> first step."""
    timeline = Timeline(start=triggered, first_step=watch.first_step,
                        end=flow_run.end_time.timestamp() if flow_run.end_time else None,
                        final=flow_run.state_name or "?")
    states = sorted(prefect.read_flow_run_states(flow_run.id), key=lambda s: s.timestamp)
    first_state = {}
    for state in states:
        first_state.setdefault(state.name, state.timestamp.timestamp())
    timeline.events = [
        ("flow run created (`run_deployment` returned)", flow_run.created.timestamp()),
        ("worker took it (Pending)", first_state.get("Pending")),
        ("flow code running in its process (Running)", first_state.get("Running")),
    ]
    stages = pre_training_stages(prefect, flow_run.id)
    timeline.stages = [(name, state, seconds) for name, state, seconds, _ in stages]
    timeline.events += [(f"{name} started", began) for name, _, _, began in stages
                        if name == "train-judge"]
    if watch.job_id:
        timeline.job_started = ray.get_job_info(watch.job_id).start_time / 1000
        timeline.events.append(("Ray job submitted (Ray's start_time)", timeline.job_started))
    timeline.events.append(("step 1 seen in the job log (1 s poll)", watch.first_step))
    timeline.events.append(("step 1 logged to Prefect (not counted)",
                            prefect_step_log(prefect, flow_run.id)))
    return timeline


def pre_training_stages(prefect: SyncPrefectClient, flow_run_id: UUID
                        ) -> list[tuple[str, str, float, float]]:
    """Each task run and subflow of the run up to train-judge: name, state, s, start."""
    in_run = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
    children = FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[flow_run_id]))
    rows = []
    for item in [*prefect.read_task_runs(flow_run_filter=in_run),
                 *prefect.read_flow_runs(flow_run_filter=children)]:
        name = next((stage for stage in (*PRE_TRAINING, "train-judge")
                     if item.name.startswith(stage)), None)
        if name is None or item.state is None:
            continue
        began = (item.start_time or item.created).timestamp()
        ended = item.end_time or item.state.timestamp
        rows.append((name, item.state.name, ended.timestamp() - began, began))
    seen: set[str] = set()
    unique = []
    for row in sorted(rows, key=lambda row: row[3]):
        if row[0] not in seen:  # a subflow also appears as a task run of its parent
            seen.add(row[0])
            unique.append(row)
    return unique


def prefect_step_log(prefect: SyncPrefectClient, flow_run_id: UUID) -> float | None:
    """When the run's log got the `step:1` line (the flow follows the job with backoff)."""
    log_filter = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
    offset = 0
    while True:
        page = prefect.read_logs(log_filter, limit=LOG_PAGE, offset=offset,
                                 sort=LogSort.TIMESTAMP_ASC)
        for entry in page:
            metrics = parse_metrics(entry.message)
            if metrics and metrics["step"] == 1:
                return entry.timestamp.timestamp()
        if len(page) < LOG_PAGE:
            return None
        offset += LOG_PAGE


def verl_inputs(config: ExperimentConfig) -> tuple[data_stage.VerlResult, Path]:
    """The verl rows and model the flow uses (cached by the warm-up: instant)."""
    root, data = config.artifacts_dir, config.data
    ingested = data_stage.ingest(fetch(data.source, root), data, root)
    verl = data_stage.to_verl(data_stage.split(ingested, data, root), data, root)
    return verl, build_tiny_qwen2(root / "models" / "tiny-qwen2")


def run_direct(ray: JobSubmissionClient, config_path: Path, timeout_s: float) -> Timeline:
    """The same job, submitted straight to the Ray head and watched to its end."""
    config = load_experiment(config_path)
    assert config.training is not None
    verl, model = verl_inputs(config)
    out = run.train_dir(verl, config.training, model, config.artifacts_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = run.run_paths(config.training, verl, model, out, config.data.dimension,
                          config.data.max_score, config.data.template.answer_prefix)
    job = training_job(config.training, paths, time.strftime("overhead-bench-%Y%m%d-%H%M%S"))
    watch = Watch(job_id=job.submission_id)
    submitted = time.time()
    submit_or_attach(ray, job.submission_id, job.entrypoint, job.runtime_env, job.metadata)
    say(f"submitted {job.submission_id}")

    def done() -> bool:
        watch.poll(ray)
        return watch.status in TERMINAL

    try:
        every_poll(done, timeout_s)
    except (KeyboardInterrupt, TimeoutError):
        ray.stop_job(job.submission_id)
        raise
    say(f"job {job.submission_id} ended {watch.status}")
    info = ray.get_job_info(job.submission_id)
    timeline = Timeline(start=submitted, first_step=watch.first_step,
                        job_started=info.start_time / 1000,
                        end=info.end_time / 1000 if info.end_time else None,
                        final=str(watch.status))
    timeline.events = [("Ray job submitted (Ray's start_time)", timeline.job_started),
                       ("step 1 seen in the job log (1 s poll)", watch.first_step)]
    return timeline


# --------------------------------------------------------------------------- report


def event_table(title: str, timeline: Timeline) -> str:
    """Each moment as seconds since the trigger and since the previous moment."""
    lines = [f"| {title} | s since trigger | s since previous |", "|---|---:|---:|"]
    previous = timeline.start
    for name, moment in timeline.events:
        if moment is None:
            lines.append(f"| {name} | n/a | |")
            continue
        lines.append(f"| {name} | {moment - timeline.start:.1f} | {moment - previous:.1f} |")
        previous = moment
    return "\n".join(lines)


def stage_table(timeline: Timeline) -> str:
    lines = ["| stage of the deployed run | state | s |", "|---|---|---:|"]
    lines += [f"| {name} | {state} | {seconds:.1f} |" for name, state, seconds in timeline.stages]
    return "\n".join(lines)


def summary(warm: Timeline, direct: Timeline, deployed: Timeline) -> tuple[str, float]:
    """The headline table and the overhead in seconds."""
    overhead = deployed.to_first_step - direct.to_first_step
    verdict = "PASS" if overhead <= TARGET_S else "MISS"

    def job_part(timeline: Timeline) -> str:
        if timeline.first_step is None or timeline.job_started is None:
            return "n/a"
        return f"{timeline.first_step - timeline.job_started:.1f} s"

    rows = [
        ("deployment: trigger -> step 1 (stages cached)", f"{deployed.to_first_step:.1f} s",
         "", ""),
        ("baseline: direct submit -> step 1", f"{direct.to_first_step:.1f} s", "", ""),
        ("**overhead** (difference)", f"{overhead:.1f} s", f"<= {TARGET_S:.0f} s", verdict),
        ("Ray job submitted -> step 1, deployment / baseline",
         f"{job_part(deployed)} / {job_part(direct)}", "", ""),
        ("warm-up: trigger -> step 1 (data, model, signal computed)",
         f"{warm.to_first_step:.1f} s" if warm.first_step else "n/a", "", ""),
        ("deployment: trigger -> run's end (incl. evaluation)",
         f"{deployed.end - deployed.start:.1f} s" if deployed.end else "n/a", "", ""),
        ("final states: warm-up / baseline job / deployment",
         f"{warm.final} / {direct.final} / {deployed.final}", "", ""),
    ]
    lines = ["| figure | value | target | result |", "|---|---:|---:|---|"]
    lines += [f"| {name} | {value} | {target} | {result} |" for name, value, target, result in rows]
    return "\n".join(lines), overhead


def report(warm: Timeline, direct: Timeline, deployed: Timeline, load: tuple[float, float],
           settings: StackSettings) -> None:
    table, overhead = summary(warm, direct, deployed)
    print(f"\n{DEPLOYMENT} on the stack at {settings.ui_url} against the same job submitted "
          f"to its Ray head; tiny-qwen2, 1 GRPO step; {time.strftime('%Y-%m-%d %H:%M')}, "
          f"{os.cpu_count()} cores, 1-min load average {load[0]:.1f} before / {load[1]:.1f} "
          "after\n")
    print(table + "\n")
    print(event_table("deployment path", deployed) + "\n")
    print(stage_table(deployed) + "\n")
    print(event_table("baseline: direct to Ray", direct) + "\n")
    headline("orchestration_overhead", "deployment trigger -> step 1, minus direct submit",
             f"{overhead:.1f} s", f"{direct.to_first_step:.1f} s direct",
             f"<= {TARGET_S:.0f} s", "PASS" if overhead <= TARGET_S else "MISS")


# --------------------------------------------------------------------------- main


def measure(settings: StackSettings, state: StackState, work: Path, timeout_s: float
            ) -> tuple[Timeline, Timeline, Timeline]:
    """warm-up, baseline, deployment: the three runs in order."""
    ray = LocalRayCluster.attach(state.ray).client()
    say("warm-up run (data, model, learning signal, code package)")
    warm = run_via_deployment(settings, ray, write_config(work, "warm-up", 1), timeout_s)
    say("baseline: the job straight to Ray")
    direct = run_direct(ray, write_config(work, "baseline", 2), timeout_s)
    say("deployment run")
    deployed = run_via_deployment(settings, ray, write_config(work, "deployment", 3), timeout_s)
    return warm, direct, deployed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--use-stack", metavar="STATE_DIR",
                        help="a running stack's state dir (default: start one on free ports)")
    parser.add_argument("--work-dir", type=Path, help="keep config and artifacts here")
    parser.add_argument("--timeout-s", type=float, default=1800.0, help="per run")
    args = parser.parse_args(argv)
    work = (args.work_dir or Path(tempfile.mkdtemp(prefix="rm-bench-overhead-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    own = args.use_stack is None
    if own:
        settings = StackSettings(work / "stack", free_port(), free_port())
        stack_cli("up", settings)
        state = StackState.load(settings)
    else:
        settings, state = running_stack(args.use_stack)
    load_before = os.getloadavg()[0]
    try:
        warm, direct, deployed = measure(settings, state, work, args.timeout_s)
    finally:
        if own:
            stack_cli("down", settings)
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    if not (direct.first_step and deployed.first_step):
        print(event_table("baseline: direct to Ray", direct) + "\n")
        print(event_table("deployment path", deployed))
        print("a run never reached step 1: no overhead figure", file=sys.stderr)
        return 1
    report(warm, direct, deployed, (load_before, os.getloadavg()[0]), settings)
    return 0 if deployed.final == "Completed" else 1


if __name__ == "__main__":
    sys.exit(main())
