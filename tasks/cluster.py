"""Model stages as Ray jobs from inside a task: the run's cluster, its token, the job's
log in the run's log, and where each job ran."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from prefect import Task, get_run_logger
from prefect.client.schemas.objects import TaskRun
from prefect.runtime import flow_run
from prefect.states import State

from rm_core.artifacts import record_node
from rm_core.cluster import target as cluster_target
from rm_core.cluster.jobs import live_submission_id, submission_id, worth_retrying
from rm_core.cluster.stage_jobs import StageJob, StageJobResult, check_resources, run_stage_job
from rm_core.cluster.target import RayTarget, target_client
from rm_core.config import RayConfig
from rm_core.training.monitor import strip_ansi


def secret_block(name: str) -> str | None:
    """The value of the Prefect Secret block `name`, None if there is none."""
    from prefect.blocks.system import Secret

    try:
        return Secret.load(name).get()
    except ValueError:
        return None


def worth_retrying_task(task: Task, task_run: TaskRun, state: State) -> bool:
    """A task's retry condition: only what can heal (`rm_core.cluster.jobs.worth_retrying`)."""
    return worth_retrying(state.result(raise_on_failure=False))


@contextmanager
def ray_target(config: RayConfig) -> Iterator[RayTarget]:
    """The configured cluster, or a private local Ray head for the block (run-logged)."""
    with cluster_target.ray_target(config, get_run_logger().info) as target:
        yield target


def run_model_job(job: StageJob, target: RayTarget, outputs: Sequence[Path] = (),
                  timeout_s: float | None = None,
                  watch: Callable[[list[str]], None] | None = None) -> StageJobResult:
    """Run a model stage's job on the cluster and wait; record in each new output's
    manifest (and the job's own) the Ray node it ran on. `watch` also sees the job's log
    lines (a training stage's progress).

    Refused before submission when no node offers the job's resources: Ray would keep
    such a job pending, unstoppable, for 15 minutes."""
    logger = get_run_logger()
    client = target_client(target, secret_block)
    check_resources(client, job.resources, f"the {job.stage} job")
    run_id = str(flow_run.id or "local")
    job_id = live_submission_id(client, submission_id(run_id, f"{job.stage}|{job.work_dir}"))
    logger.info("%s: Ray job %s on %s", job.stage, job_id, target.address)

    def on_lines(lines: list[str]) -> None:
        for line in lines:
            logger.info(strip_ansi(line))
        if watch is not None:
            watch(lines)

    result = run_stage_job(client, job, job_id, on_lines,
                           {"run_id": run_id, "tool": "rm-pipeline"}, timeout_s=timeout_s)
    for directory in [job.work_dir, *outputs]:
        record_node(directory, job.stage, result.submission_id, result.node_id)
    logger.info("%s: done on Ray node %s", job.stage, result.node_id)
    return result
