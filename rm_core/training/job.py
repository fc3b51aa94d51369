"""A TrainSpec as a Ray job: entrypoint, runtime_env and a stable submission id.

The job carries the project's code as its `working_dir`, so a remote cluster runs the
same launcher, reward and dataset files; paths inside the code are relative to it.
Secrets enter only through `runtime_env.env_vars`, never the entrypoint or metadata.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from rm_core.cluster.jobs import submission_id
from rm_core.cluster.stage_jobs import CODE_EXCLUDES
from rm_core.config import REPO_ROOT
from rm_core.training.spec import RunPaths, TrainSpec, job_env, verl_overrides
from rm_core.training.worker_setup import CPU_PATCHES_VAR

REWARD_FILE = Path("rm_core/judge/rewards.py")
WORKER_SETUP_HOOK = "rm_core.training.worker_setup.setup"


class TrainingJob(BaseModel):
    """Everything `JobSubmissionClient.submit_job` needs for one training run."""

    model_config = ConfigDict(frozen=True)
    submission_id: str
    entrypoint: str
    runtime_env: dict[str, Any]
    metadata: dict[str, str]


def training_job(
    spec: TrainSpec,
    paths: RunPaths,
    run_id: str,
    secrets: Mapping[str, str] | None = None,
    code_dir: Path = REPO_ROOT,
) -> TrainingJob:
    """The Ray job of `spec` (launcher + verl overrides) for the run `run_id`."""
    overrides = verl_overrides(spec, paths)
    command = ["python", "-m", "rm_core.training.launcher"]
    if spec.profile == "cpu":
        command.append("--cpu")
    runtime_env: dict[str, Any] = {
        "working_dir": str(code_dir),
        "excludes": CODE_EXCLUDES,
        "env_vars": {**job_env(spec), **dict(secrets or {})},
        "worker_process_setup_hook": WORKER_SETUP_HOOK,
    }
    if spec.wandb.enabled:
        runtime_env["env_vars"]["WANDB_DIR"] = str(paths.checkpoint_dir.parent)
    if spec.profile == "cpu":
        runtime_env["env_vars"][CPU_PATCHES_VAR] = "1"
    return TrainingJob(
        submission_id=submission_id(run_id),
        entrypoint=shlex.join([*command, *overrides]),
        runtime_env=runtime_env,
        metadata={"run_id": run_id, "stage": paths.experiment_name, "profile": spec.profile,
                  "tool": "rm-pipeline"},
    )
