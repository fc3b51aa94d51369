"""Bad input to a model stage's Ray job fails early and says why, on a real private local
head: resources no node offers (refused before submission), an artifacts root the job's
node cannot see (fails at once, not retried), a function that raises (its error line in
the failure)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from prefect import flow

from rm_core.cluster import stage_jobs
from rm_core.cluster.jobs import JobConfigError, JobFailed, worth_retrying
from rm_core.cluster.local_head import LocalRayCluster
from rm_core.cluster.resources import JobResources
from rm_core.cluster.stage_jobs import (
    SPEC_FILE,
    ClusterLacksResources,
    StageJob,
    StageJobResult,
    check_resources,
    run_stage_job,
)
from rm_core.cluster.target import RayTarget
from rm_core.model_jobs import merge_job
from tasks.cluster import run_model_job

ONE_CPU = JobResources(num_cpus=1)
ONE_GPU = JobResources(num_cpus=1, num_gpus=1)


@pytest.fixture(scope="module")
def head() -> Iterator[LocalRayCluster]:
    """One private head with a single CPU and no GPU for the module's jobs."""
    with LocalRayCluster(num_cpus=1) as cluster:
        yield cluster


def submitted(head: LocalRayCluster) -> set[str]:
    return {job.submission_id for job in head.client().list_jobs()}


def run(head: LocalRayCluster, job: StageJob, lines: list[str]) -> StageJobResult:
    """The job run as a task runs it, its log lines collected; bounded so that a job that
    never ends fails the test instead of hanging it."""
    return run_stage_job(head.client(), job, f"test-{job.stage}-{uuid4().hex[:8]}",
                         lines.extend, {"tool": "rm-pipeline-tests"}, timeout_s=600)


def merge_of(steps: list[Path], root: Path) -> StageJob:
    return merge_job(steps, root, root / "jobs" / "merge" / "test", ONE_CPU)


def test_a_job_no_node_can_place_is_refused_before_submission(head: LocalRayCluster) -> None:
    before = submitted(head)
    with pytest.raises(ClusterLacksResources) as refused:
        check_resources(head.client(), ONE_GPU, "the judge job")
    message = str(refused.value)
    assert message.startswith("the judge job needs CPU 1, GPU 1 on one node")
    assert "(missing: GPU)" in message
    assert "the nodes offer: CPU 1" in message
    assert submitted(head) == before


@pytest.mark.usefixtures("prefect_harness")
def test_a_model_stage_task_is_refused_before_it_writes_or_submits(
    head: LocalRayCluster, tmp_path: Path
) -> None:
    @flow
    def one_model_stage(job: StageJob, target: RayTarget) -> StageJobResult:
        return run_model_job(job, target)

    job = merge_of([], tmp_path).model_copy(update={"resources": ONE_GPU})
    target = RayTarget(address=head.dashboard_url, token_path=str(head.token_path))
    before = submitted(head)
    state = one_model_stage(job, target, return_state=True)
    assert state.is_failed()
    with pytest.raises(ClusterLacksResources, match=r"the merge job needs .*missing: GPU"):
        state.result()
    assert not job.work_dir.exists()
    assert submitted(head) == before


def test_an_artifacts_root_the_node_cannot_see_fails_the_job_at_once(
    head: LocalRayCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = merge_of([], tmp_path)
    # One machine: every process sees the same files. The orchestrator's spec landing
    # where the node cannot see it is the same as its not being written at all.
    monkeypatch.setattr(stage_jobs, "write_spec", lambda job: job.work_dir / SPEC_FILE)
    with pytest.raises(JobConfigError) as failed:
        run(head, job, [])
    message = str(failed.value)
    assert "ARTIFACTS NOT VISIBLE" in message
    assert str(job.work_dir / SPEC_FILE) in message
    assert not worth_retrying(failed.value)


def test_a_failed_job_fails_with_its_last_log_lines(head: LocalRayCluster,
                                                    tmp_path: Path) -> None:
    step = tmp_path / "train" / "checkpoints" / "global_step_1"
    step.mkdir(parents=True)  # a step without its actor/ folder
    lines: list[str] = []
    with pytest.raises(JobFailed) as failed:
        run(head, merge_of([step], tmp_path), lines)
    error = f"CheckpointError: {step} has no actor/ folder: not a verl checkpoint step"
    assert error in str(failed.value)
    assert type(failed.value) is JobFailed  # neither a configuration error nor a stop
    assert any(error in line for line in lines)  # and the task's log had it as it came
