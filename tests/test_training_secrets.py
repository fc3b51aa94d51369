"""Secrets reach the training job only through its runtime_env and never its log lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rm_core.training.job import training_job
from rm_core.training.spec import RunPaths, TrainSpec
from tasks.training import RayTarget, _auth_env, _redact, _secrets

SECRET = "wandb-key-0123456789abcdef"
PATHS = RunPaths(model=Path("/m"), train_files=Path("/t.parquet"), val_files=Path("/v.parquet"),
                 checkpoint_dir=Path("/runs/r/checkpoints"),
                 reward_file=Path("rm_core/judge/rewards.py"),
                 experiment_name="r")


def test_the_wandb_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", SECRET)
    assert _secrets() == {"WANDB_API_KEY": SECRET}


@pytest.mark.usefixtures("prefect_harness")
def test_secrets_come_from_prefect_secret_blocks_when_the_environment_lacks_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect.blocks.system import Secret

    for name in ("WANDB_API_KEY", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH",
                 "RM_PIPELINE_RAY_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    Secret(value=SECRET).save("wandb-api-key", overwrite=True)
    Secret(value="ray-token-from-a-block").save("ray-auth-token", overwrite=True)
    try:
        assert _secrets() == {"WANDB_API_KEY": SECRET}
        remote = RayTarget(address="http://gpu-head:8265")
        assert _auth_env(remote) == {"RAY_AUTH_TOKEN": "ray-token-from-a-block"}
        monkeypatch.setenv("RAY_AUTH_TOKEN", "ray-token-from-env")
        assert _auth_env(remote) == {"RAY_AUTH_TOKEN": "ray-token-from-env"}
    finally:
        Secret.delete("wandb-api-key")
        Secret.delete("ray-auth-token")
    assert _secrets() == {}


def test_secrets_go_to_env_vars_only() -> None:
    job = training_job(TrainSpec(grpo={}), PATHS, "run-1", {"WANDB_API_KEY": SECRET})
    assert job.runtime_env["env_vars"]["WANDB_API_KEY"] == SECRET
    assert SECRET not in job.entrypoint
    assert SECRET not in json.dumps(job.metadata)


def test_streamed_log_lines_are_redacted() -> None:
    line = f"wandb: logging in with key {SECRET} (offline)"
    assert _redact(line, [SECRET]) == "wandb: logging in with key *** (offline)"
