"""A Ray Train stage job killed after its first checkpoint, then run again: what the SFT
and Bradley-Terry resume tests share."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from rm_core.artifacts import is_complete
from rm_core.cluster.jobs import JobFailed
from rm_core.cluster.local_head import LocalRayCluster
from rm_core.cluster.stage_jobs import StageJob, run_stage_job
from rm_core.training.monitor import iter_metrics

DEADLINE_S = 600  # only guards against a hang
METADATA = {"tool": "rm-pipeline-tests"}


def _kill_driver_after_checkpoint(cluster: LocalRayCluster, storage: Path,
                                  killed: list[str]) -> None:
    """SIGKILL the running job's driver once Ray Train recorded a checkpoint (its snapshot
    names it), like a node loss."""
    client = cluster.client()
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if any(storage.rglob("checkpoint_manager_snapshot.json")):
            for job in client.list_jobs():
                if job.status == "RUNNING" and job.driver_info is not None:
                    os.kill(int(job.driver_info.pid), signal.SIGKILL)
                    killed.append(job.submission_id)
                    return
        time.sleep(0.5)


def killed_then_resumed(cluster: LocalRayCluster, job: StageJob, out: Path
                        ) -> tuple[dict[str, Any], list[str], list[int], list[int]]:
    """Run `job`, kill its driver after a checkpoint, run it again; checks the second run
    resumed past the first one's steps. Returns (result, its log lines, the first run's
    steps, the second run's steps)."""
    client, killed = cluster.client(), []
    killer = threading.Thread(target=_kill_driver_after_checkpoint,
                              args=(cluster, job.work_dir / "ray_train", killed), daemon=True)
    killer.start()
    first: list[str] = []
    with pytest.raises(JobFailed):
        run_stage_job(client, job, f"{job.stage}-{uuid4().hex[:8]}", first.extend, METADATA,
                      timeout_s=DEADLINE_S)
    assert killed, "the driver was never killed"
    assert not is_complete(out)

    lines: list[str] = []
    done = run_stage_job(client, job, f"{job.stage}-{uuid4().hex[:8]}", lines.extend,
                         METADATA, timeout_s=DEADLINE_S).result
    log = "\n".join(lines)
    assert "resuming from" in log, log[-3000:]
    first_steps = [int(metrics["step"]) for metrics in iter_metrics(first)]
    resumed = [int(metrics["step"]) for metrics in iter_metrics(lines)]
    assert resumed[0] > 1 and resumed[0] > first_steps[0], (first_steps, resumed)
    assert done["steps"] == resumed[-1]
    return done, lines, first_steps, resumed
