"""Secrets reach the training job only through its runtime_env and never its log lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rm_core.cluster.credentials import auth_env, job_secrets, redact
from rm_core.training.job import training_job
from rm_core.training.spec import RunPaths, TrainSpec
from tasks.cluster import secret_block


def no_secret_store(name: str) -> None:
    return None

SECRET = "wandb-key-0123456789abcdef"
PATHS = RunPaths(model=Path("/m"), train_files=Path("/t.parquet"), val_files=Path("/v.parquet"),
                 checkpoint_dir=Path("/runs/r/checkpoints"),
                 reward_file=Path("rm_core/judge/rewards.py"),
                 experiment_name="r")


def test_the_wandb_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", SECRET)
    assert job_secrets(no_secret_store) == {"WANDB_API_KEY": SECRET}


@pytest.mark.usefixtures("prefect_harness")
def test_secrets_come_from_prefectsecret_blocks_when_the_environment_lacks_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect.blocks.system import Secret

    for name in ("WANDB_API_KEY", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH",
                 "RM_PIPELINE_RAY_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    Secret(value=SECRET).save("wandb-api-key", overwrite=True)
    Secret(value="ray-token-from-a-block").save("ray-auth-token", overwrite=True)
    remote = "http://gpu-head:8265"
    try:
        assert job_secrets(secret_block) == {"WANDB_API_KEY": SECRET}
        assert auth_env(remote, None, secret_block) == {"RAY_AUTH_TOKEN": "ray-token-from-a-block"}
        monkeypatch.setenv("RAY_AUTH_TOKEN", "ray-token-from-env")
        assert auth_env(remote, None, secret_block) == {"RAY_AUTH_TOKEN": "ray-token-from-env"}
    finally:
        Secret.delete("wandb-api-key")
        Secret.delete("ray-auth-token")
    assert job_secrets(secret_block) == {}


def test_secrets_go_to_env_vars_only() -> None:
    job = training_job(TrainSpec(grpo={}), PATHS, "run-1", {"WANDB_API_KEY": SECRET})
    assert job.runtime_env["env_vars"]["WANDB_API_KEY"] == SECRET
    assert SECRET not in job.entrypoint
    assert SECRET not in json.dumps(job.metadata)


def test_streamed_log_lines_are_redacted() -> None:
    line = f"wandb: logging in with key {SECRET} (offline)"
    assert redact(line, [SECRET]) == "wandb: logging in with key *** (offline)"


def test_a_private_head_token_wins_and_the_secret_store_is_asked_last() -> None:
    asked: list[str] = []

    def store(name: str) -> str:
        asked.append(name)
        return "token-from-the-store"

    environ = {"RAY_AUTH_TOKEN": "token-from-env"}
    assert auth_env("http://127.0.0.1:1234", "/tmp/head/auth_token", store, environ) == {
        "RAY_AUTH_TOKEN_PATH": "/tmp/head/auth_token"}
    assert auth_env("http://gpu-head:8265", None, store, environ) == {
        "RAY_AUTH_TOKEN": "token-from-env"}
    assert asked == []
    assert auth_env("http://gpu-head:8265", None, store, {}) == {
        "RAY_AUTH_TOKEN": "token-from-the-store"}
    assert asked == ["ray-auth-token"]
    assert auth_env("http://gpu-head:8265", None, no_secret_store, {}) is None
