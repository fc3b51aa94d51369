"""Faults a cluster sees: survived through the train task's retries when a retry can
help, failed at once when it cannot (real Ray, real verl)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
import time
from pathlib import Path
from uuid import UUID

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from tiny_training import TINY_GRPO, tiny_spec

from rm_core.cluster.jobs import JobConfigError, JobStopped
from rm_core.cluster.local_head import LocalRayCluster
from rm_core.cluster.target import RayTarget
from rm_core.config import DataConfig
from rm_core.data.stage import VerlResult
from rm_core.errors import RayUnavailable
from rm_core.training import run
from rm_core.training.spec import TrainSpec
from tasks.training import train_judge

pytestmark = pytest.mark.usefixtures("prefect_harness")
FAST_RETRY = {"retry_delay_seconds": [1, 1]}
DEADLINE_S = 600  # only guards against a hang: the waits end when their event happens


@flow
def train_once(spec: TrainSpec, verl: VerlResult, model: str, data: DataConfig,
               target: RayTarget, root: Path) -> run.TrainResult:
    """The train task alone, retried quickly."""
    return train_judge.with_options(**FAST_RETRY)(spec, verl, model, data, target, root)


def train_runs(flow_run_id: UUID) -> list[int]:
    """run_count of each train-judge task run of the flow run."""

    async def read() -> list[int]:
        in_run = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        async with get_client() as client:
            return [r.run_count for r in await client.read_task_runs(flow_run_filter=in_run)]

    return asyncio.run(read())


def kill_driver_after_checkpoint(cluster: LocalRayCluster, checkpoints: Path, step: int,
                                 killed: list[int]) -> None:
    """Once checkpoint `step` or a later one exists, SIGKILL the job's driver process, like
    a node loss; record the checkpoint step it was killed after."""
    client = cluster.client()
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        reached = run.latest_checkpoint_step(checkpoints)
        if reached is not None and reached >= step:
            for job in client.list_jobs():
                if job.status == "RUNNING" and job.driver_info is not None:
                    os.kill(int(job.driver_info.pid), signal.SIGKILL)
                    killed.append(reached)
                    return
        time.sleep(0.5)


def stop_running_job(cluster: LocalRayCluster, stage: str, stopped: list[str]) -> None:
    """Once the job training `stage` runs, stop it the way a user would."""
    client = cluster.client()
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        for job in client.list_jobs():
            if job.status == "RUNNING" and (job.metadata or {}).get("stage") == stage:
                client.stop_job(job.submission_id)
                stopped.append(job.submission_id)
                return
        time.sleep(0.5)


def test_a_killed_job_is_retried_and_resumes_from_its_last_checkpoint(
    cluster: LocalRayCluster, workspace: dict
) -> None:
    spec = tiny_spec(grpo={**TINY_GRPO, "total_training_steps": 4})
    target = RayTarget(address=cluster.dashboard_url, token_path=str(cluster.token_path))
    root = workspace["root"] / "killed"
    out = run.train_dir(workspace["verl"], spec, workspace["model"], root)
    killed: list[int] = []
    killer = threading.Thread(target=kill_driver_after_checkpoint,
                              args=(cluster, out / "checkpoints", 2, killed), daemon=True)
    killer.start()

    state = train_once(spec, workspace["verl"], str(workspace["model"]), workspace["data"],
                       target, root, return_state=True)

    assert killed, "the driver was never killed"
    assert killed[0] < 4, f"killed only after the last checkpoint ({killed[0]})"
    assert state.is_completed()
    result = state.result()
    assert result.last_step == 4
    resumed = [row["step"] for row in result.metrics]
    # The second attempt went on after a checkpoint of the first, not from step 1.
    assert resumed and resumed[0] > killed[0] and resumed == list(range(resumed[0], 5))
    assert result.submission_id.endswith("-1")  # the second attempt of the same run
    assert train_runs(state.state_details.flow_run_id) == [2]


def test_a_stopped_job_fails_at_once_without_retries(cluster: LocalRayCluster,
                                                     workspace: dict) -> None:
    spec = tiny_spec(grpo={**TINY_GRPO, "total_training_steps": 50})
    target = RayTarget(address=cluster.dashboard_url, token_path=str(cluster.token_path))
    root = workspace["root"] / "stopped"
    out = run.train_dir(workspace["verl"], spec, workspace["model"], root)
    stopped: list[str] = []
    stopper = threading.Thread(target=stop_running_job, args=(cluster, out.name, stopped),
                               daemon=True)
    stopper.start()

    state = train_once(spec, workspace["verl"], str(workspace["model"]), workspace["data"],
                       target, root, return_state=True)

    assert stopped, "the job was never stopped"
    assert state.is_failed()
    with pytest.raises(JobStopped, match="STOPPED"):
        state.result()
    assert train_runs(state.state_details.flow_run_id) == [1]
    assert not (out / "_SUCCESS.json").exists()


@pytest.mark.parametrize(
    ("changes", "reason"),
    [({"extra_overrides": ("trainer.no_such_setting=1",)}, "no_such_setting"),
     ({"train_files": Path("/nonexistent/train.parquet")}, "/nonexistent/train.parquet")],
    ids=["unknown-override", "missing-data-file"],
)
def test_a_config_error_fails_at_once_without_retries(
    cluster: LocalRayCluster, workspace: dict, changes: dict, reason: str
) -> None:
    spec = tiny_spec(**changes)
    target = RayTarget(address=cluster.dashboard_url, token_path=str(cluster.token_path))
    root = workspace["root"] / f"config-error-{reason.replace('/', '_')}"

    state = train_once(spec, workspace["verl"], str(workspace["model"]), workspace["data"],
                       target, root, return_state=True)

    assert state.is_failed()
    with pytest.raises(JobConfigError) as caught:
        state.result()
    assert reason in str(caught.value) and "invalid configuration" in str(caught.value)
    assert train_runs(state.state_details.flow_run_id) == [1]


def test_an_unreachable_cluster_is_retried_then_named_and_nothing_is_cached(
    workspace: dict
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"http://127.0.0.1:{probe.getsockname()[1]}"
    spec = tiny_spec()
    root = workspace["root"] / "unreachable"

    state = train_once(spec, workspace["verl"], str(workspace["model"]), workspace["data"],
                       RayTarget(address=address), root, return_state=True)

    assert state.is_failed()
    with pytest.raises(RayUnavailable, match=address):
        state.result()
    assert train_runs(state.state_details.flow_run_id) == [3]  # tried, then two retries
    out = run.train_dir(workspace["verl"], spec, workspace["model"], root)
    assert not (out / "_SUCCESS.json").exists()
