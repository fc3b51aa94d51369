"""Training-stage tasks: the model, its learning signal, the GRPO job on Ray."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from prefect import Task, get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.client.schemas.objects import TaskRun
from prefect.runtime import flow_run
from prefect.states import State
from pydantic import BaseModel

from rm_core import embedded_models
from rm_core.cluster.jobs import JobFailed, LocalRayCluster, job_client
from rm_core.config import RAY_ADDRESS_VAR, RAY_TOKEN_PATH_VAR, DataConfig, RayConfig
from rm_core.data.stage import VerlResult, template_for
from rm_core.errors import RayUnavailable
from rm_core.judge import generation
from rm_core.training import run
from rm_core.training.monitor import TrainingMonitor
from rm_core.training.spec import TrainSpec
from tasks.caching import stage_cache_key

SECRET_ENV = ("WANDB_API_KEY",)
# Enough sampled judgements to see whether GRPO will get any signal, in about a minute
# for SmolLM2 on two cores: the answer sits within the first tokens.
SIGNAL_PROMPTS = 8
SIGNAL_MAX_NEW_TOKENS = 24
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class RayTarget(BaseModel):
    """Where to submit: a job API address and, for a local head, its token file."""

    address: str
    token_path: str | None = None


@contextmanager
def ray_target(config: RayConfig) -> Iterator[RayTarget]:
    """The configured cluster, or a private local Ray head for the duration of the block."""
    if config.address:
        get_run_logger().info("training on the Ray cluster at %s", config.address)
        yield RayTarget(address=config.address)
        return
    with LocalRayCluster(num_cpus=config.num_cpus) as cluster:
        get_run_logger().info("started a local Ray head, dashboard %s", cluster.dashboard_url)
        yield RayTarget(address=cluster.dashboard_url, token_path=str(cluster.token_path))


def _model_plan(model_path: str, root: Path) -> tuple[str, Path | None]:
    return f"{model_path}|{root}", embedded_models.model_folder(model_path, root)


@task(
    name="prepare-model",
    retries=2,
    retry_delay_seconds=[10, 60],
    cache_key_fn=stage_cache_key(_model_plan),
    persist_result=True,
)
def prepare_model(model_path: str, root: Path) -> str:
    """A Hugging Face folder of the model; embedded models are built once, offline."""
    folder = embedded_models.prepare(model_path, root)
    if folder is None:
        return model_path
    get_run_logger().info("model %s ready at %s", model_path, folder)
    return str(folder)


def _signal_plan(model: str, verl: VerlResult, data: DataConfig, spec: TrainSpec
                 ) -> tuple[str, None]:
    sampling = (spec.grpo.rollout_n, spec.grpo.temperature, spec.grpo.max_response_length,
                spec.thinking)
    key = f"{run.model_fingerprint(model)}|{verl.key}|{template_for(data)!r}|{sampling}"
    return key, None


@task(name="check-learning-signal", cache_key_fn=stage_cache_key(_signal_plan),
      persist_result=True)
def check_learning_signal(
    model: str, verl: VerlResult, data: DataConfig, spec: TrainSpec
) -> generation.ParseRate:
    """Measure the base model's parse rate on val prompts before spending steps on it."""
    template = template_for(data)
    result = generation.parse_rate(
        model, verl.val_path, template, limit=SIGNAL_PROMPTS, samples=spec.grpo.rollout_n,
        max_new_tokens=min(spec.grpo.max_response_length, SIGNAL_MAX_NEW_TOKENS),
        temperature=spec.grpo.temperature, thinking=spec.thinking,
    )
    logger = get_run_logger()
    message = (
        f"base model parse rate {result.rate:.0%} ({result.parsed}/{result.samples} sampled "
        f"judgements on {result.prompts} val prompts), mean reward {result.mean_reward:.3f}, "
        f"{result.groups_with_signal}/{result.prompts} prompt groups with differing rewards"
    )
    if result.parsed == 0 or result.groups_with_signal == 0:
        logger.warning("NO LEARNING SIGNAL: %s. GRPO advantages will be zero.", message)
    else:
        logger.info(message)
    create_markdown_artifact(f"# Learning signal before training\n\n{message}",
                             key="learning-signal")
    return result


def _train_plan(spec: TrainSpec, verl: VerlResult, model: str, data: DataConfig,
                target: RayTarget, root: Path, timeout_s: float | None = None
                ) -> tuple[str, Path]:
    out = run.train_dir(verl, spec, model, root)
    return out.name, out


def _worth_retrying(task: Task, task_run: TaskRun, state: State) -> bool:
    """Retry an unreachable cluster or a job that died (the retry resumes from the last
    checkpoint); a timeout, a rejected token or a bad config will not heal by waiting."""
    return isinstance(state.result(raise_on_failure=False), RayUnavailable | JobFailed)


@task(
    name="train-judge",
    retries=2,
    retry_delay_seconds=[15, 60],
    retry_condition_fn=_worth_retrying,
    cache_key_fn=stage_cache_key(_train_plan),
    persist_result=True,
)
def train_judge(
    spec: TrainSpec,
    verl: VerlResult,
    model: str,
    data: DataConfig,
    target: RayTarget,
    root: Path,
    timeout_s: float | None = None,
) -> run.TrainResult:
    """Submit the GRPO job (or re-attach to it), stream its log and metrics, wait."""
    logger = get_run_logger()
    secrets = _secrets()
    out = run.train_dir(verl, spec, model, root)
    total = run.expected_steps(spec, verl.train_rows)
    progress_id = create_progress_artifact(0.0, key="training-progress",
                                           description=f"GRPO steps of {out.name}")

    def on_progress(step: int, steps: int) -> None:
        update_progress_artifact(progress_id, min(100.0, 100.0 * step / max(steps, 1)))
        logger.info("training step %d/%d", step, steps)

    monitor = TrainingMonitor(total_steps=total, on_progress=on_progress,
                              on_warning=logger.warning)

    def on_lines(lines: list[str]) -> None:
        for line in lines:
            logger.info(_redact(_ANSI.sub("", line), secrets.values()))

    paths = run.run_paths(spec, verl, model, out, data)
    client = job_client(target.address, _auth_env(target))
    try:
        result = run.train(spec, paths, out, client, str(flow_run.id or "local"), monitor,
                           on_lines, secrets, timeout_s)
    finally:
        if monitor.steps:
            create_table_artifact(monitor.table(), key="training-metrics",
                                  description="verl metrics per GRPO step")
    if result.zero_signal_steps:
        logger.warning("steps with zero GRPO advantages: %s", result.zero_signal_steps)
    return result


def _auth_env(target: RayTarget) -> dict[str, str] | None:
    """The token of the target's cluster: a private head's file; the default cluster's
    token file (the local stack's head); else `RAY_AUTH_TOKEN`, the file named by
    `RAY_AUTH_TOKEN_PATH`, or the Secret block `ray-auth-token`."""
    if target.token_path:
        return {"RAY_AUTH_TOKEN_PATH": target.token_path}
    default_token = os.environ.get(RAY_TOKEN_PATH_VAR)
    if default_token and target.address == os.environ.get(RAY_ADDRESS_VAR):
        return {"RAY_AUTH_TOKEN_PATH": default_token}
    token = os.environ.get("RAY_AUTH_TOKEN")
    if not token and os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return {"RAY_AUTH_TOKEN_PATH": os.environ["RAY_AUTH_TOKEN_PATH"]}
    token = token or _secret_block("ray-auth-token")
    return {"RAY_AUTH_TOKEN": token} if token else None


def _secrets() -> dict[str, str]:
    """Secrets the job needs, from the environment or Prefect Secret blocks."""
    found = {}
    for name in SECRET_ENV:
        value = os.environ.get(name) or _secret_block(name.lower().replace("_", "-"))
        if value:
            found[name] = value
    return found


def _secret_block(name: str) -> str | None:
    from prefect.blocks.system import Secret

    try:
        return Secret.load(name).get()
    except ValueError:
        return None


def _redact(line: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        line = line.replace(secret, "***")
    return line


def stop_training_jobs(config: RayConfig, run_id: str) -> list[str]:
    """Stop the training jobs a run left on an external cluster (a local head started by
    the run stops with the run's process)."""
    if not config.address:
        return []
    client = job_client(config.address, _auth_env(RayTarget(address=config.address)))
    return run.stop_run_jobs(client, run_id)
