"""Secrets reach the training job only through its runtime_env and never its log lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rm_core.training.job import training_job
from rm_core.training.spec import RunPaths, TrainSpec
from tasks.training import _redact, _secrets

SECRET = "wandb-key-0123456789abcdef"
PATHS = RunPaths(model=Path("/m"), train_files=Path("/t.parquet"), val_files=Path("/v.parquet"),
                 checkpoint_dir=Path("/runs/r/checkpoints"), reward_file=Path("rm_core/rewards.py"),
                 experiment_name="r")


def test_the_wandb_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", SECRET)
    assert _secrets() == {"WANDB_API_KEY": SECRET}


def test_secrets_go_to_env_vars_only() -> None:
    job = training_job(TrainSpec(grpo={}), PATHS, "run-1", {"WANDB_API_KEY": SECRET})
    assert job.runtime_env["env_vars"]["WANDB_API_KEY"] == SECRET
    assert SECRET not in job.entrypoint
    assert SECRET not in json.dumps(job.metadata)


def test_streamed_log_lines_are_redacted() -> None:
    line = f"wandb: logging in with key {SECRET} (offline)"
    assert _redact(line, [SECRET]) == "wandb: logging in with key *** (offline)"
