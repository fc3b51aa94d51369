"""Training-stage tasks: the model, its learning signal, the GRPO job on Ray."""

from __future__ import annotations

from collections.abc import Iterator
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

from rm_core import embedded_models
from rm_core.cluster import target as cluster_target
from rm_core.cluster.credentials import job_secrets, redact
from rm_core.cluster.jobs import worth_retrying
from rm_core.cluster.target import RayTarget, target_client
from rm_core.config import DataConfig, RayConfig
from rm_core.data.stage import VerlResult, template_for
from rm_core.judge import generation
from rm_core.training import run
from rm_core.training.monitor import TrainingMonitor, strip_ansi
from rm_core.training.spec import TrainSpec
from tasks.caching import stage_cache_key

# Enough sampled judgements to see whether GRPO will get any signal, in about a minute
# for SmolLM2 on two cores: the answer sits within the first tokens.
SIGNAL_PROMPTS = 8
SIGNAL_MAX_NEW_TOKENS = 24


@contextmanager
def ray_target(config: RayConfig) -> Iterator[RayTarget]:
    """The configured cluster, or a private local Ray head for the block (run-logged)."""
    with cluster_target.ray_target(config, get_run_logger().info) as target:
        yield target


def _secret_block(name: str) -> str | None:
    """The value of the Prefect Secret block `name`, None if there is none."""
    from prefect.blocks.system import Secret

    try:
        return Secret.load(name).get()
    except ValueError:
        return None


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
    """Retry only what can heal (see `rm_core.cluster.jobs.worth_retrying`)."""
    return worth_retrying(state.result(raise_on_failure=False))


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
    secrets = job_secrets(_secret_block)
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
            logger.info(redact(strip_ansi(line), secrets.values()))

    paths = run.run_paths(spec, verl, model, out, data)
    client = target_client(target, _secret_block)
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


def stop_training_jobs(config: RayConfig, run_id: str) -> list[str]:
    """Stop the training jobs a run left on an external cluster (a local head started by
    the run stops with the run's process)."""
    if not config.address:
        return []
    return run.stop_run_jobs(target_client(RayTarget(address=config.address), _secret_block),
                             run_id)
