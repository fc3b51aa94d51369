"""Training-stage tasks: the model, its learning signal, the GRPO job on Ray."""

from __future__ import annotations

import math
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.runtime import flow_run

from rm_core import embedded_models, model_jobs
from rm_core.artifacts import is_complete, stage_key
from rm_core.cluster.credentials import job_secrets, redact
from rm_core.cluster.resources import JobResources
from rm_core.cluster.stage_jobs import check_resources
from rm_core.cluster.target import RayTarget, target_client
from rm_core.config import DataConfig, RayConfig
from rm_core.data.stage import VerlResult, template_for
from rm_core.errors import ConfigError
from rm_core.judge.generation import ParseRate
from rm_core.training import run
from rm_core.training.monitor import TrainingMonitor, strip_ansi
from rm_core.training.sft import SftResult
from rm_core.training.spec import TrainSpec
from tasks.caching import stage_cache_key
from tasks.cluster import run_model_job, secret_block, worth_retrying_task


def _model_plan(model_path: str, root: Path, target: RayTarget, resources: JobResources
                ) -> tuple[str, Path | None]:
    return f"{model_path}|{root}", embedded_models.model_folder(model_path, root)


@task(name="prepare-model", retries=2, retry_delay_seconds=[10, 60],
      retry_condition_fn=worth_retrying_task, cache_key_fn=stage_cache_key(_model_plan),
      persist_result=True)
def prepare_model(model_path: str, root: Path, target: RayTarget,
                  resources: JobResources) -> str:
    """A Hugging Face folder of the model: embedded models are built once, offline, by a
    job on the cluster; a folder or hub id is used as given."""
    folder = embedded_models.model_folder(model_path, root)
    if folder is None:
        return model_path
    if not is_complete(folder):
        run_model_job(model_jobs.prepare_model_job(model_path, root, resources), target,
                      outputs=[folder])
    get_run_logger().info("model %s ready at %s", model_path, folder)
    return str(folder)


def _signal_job(model: str, verl: VerlResult, data: DataConfig, spec: TrainSpec, root: Path,
                resources: JobResources) -> model_jobs.StageJob:
    sampling = (spec.grpo.rollout_n, spec.grpo.temperature, spec.grpo.max_response_length,
                spec.thinking)
    key = stage_key("learning-signal", model=run.model_fingerprint(model),
                        verl=verl.key, template=repr(template_for(data)), sampling=sampling)
    return model_jobs.learning_signal_job(model, verl.val_path, data, spec,
                                          root / "jobs" / "learning-signal" / key, resources)


def _signal_plan(model: str, verl: VerlResult, data: DataConfig, spec: TrainSpec,
                 root: Path, target: RayTarget, resources: JobResources) -> tuple[str, None]:
    return _signal_job(model, verl, data, spec, root, resources).work_dir.name, None


@task(name="check-learning-signal", retries=2, retry_delay_seconds=[10, 60],
      retry_condition_fn=worth_retrying_task, cache_key_fn=stage_cache_key(_signal_plan),
      persist_result=True)
def check_learning_signal(model: str, verl: VerlResult, data: DataConfig, spec: TrainSpec,
                          root: Path, target: RayTarget, resources: JobResources
                          ) -> ParseRate:
    """Measure the base model's parse rate on val prompts (a job on the cluster) before
    spending steps on it."""
    job = _signal_job(model, verl, data, spec, root, resources)
    result = ParseRate.model_validate(run_model_job(job, target).result)
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


def _sft_plan(model: str, verl: VerlResult, data: DataConfig, spec: TrainSpec, root: Path,
              target: RayTarget, resources: JobResources, base_signal: ParseRate | None = None
              ) -> tuple[str | None, Path | None]:
    out = run.sft_dir(verl, spec, model, root)
    return (out.name, out) if out else (None, None)


def _signal_line(name: str, rate: ParseRate) -> str:
    return (f"| {name} | {rate.rate:.0%} ({rate.parsed}/{rate.samples}) | "
            f"{rate.mean_reward:.3f} | {rate.groups_with_signal}/{rate.prompts} |")


@task(name="sft-warm-start", retries=2, retry_delay_seconds=[15, 60],
      retry_condition_fn=worth_retrying_task, cache_key_fn=stage_cache_key(_sft_plan),
      persist_result=True)
def sft_warm_start(model: str, verl: VerlResult, data: DataConfig, spec: TrainSpec, root: Path,
                   target: RayTarget, resources: JobResources,
                   base_signal: ParseRate | None = None) -> SftResult | None:
    """Fine-tune the base model on the train split's labelled judgements (TRL under Ray
    Train, a job on the cluster) when `training.sft` is enabled; GRPO starts from it.

    A killed job resumes from its last checkpoint on the task's retry."""
    out = run.sft_dir(verl, spec, model, root)
    logger = get_run_logger()
    if out is None:
        logger.info("no SFT warm start (training.sft.enabled is false)")
        return None
    check_resources(target_client(target, secret_block), resources,
                    "the sft job's Ray Train worker")
    total = math.ceil(verl.train_rows / spec.sft.batch_size) * spec.sft.epochs
    progress_id = create_progress_artifact(0.0, key="sft-progress",
                                           description=f"SFT steps of {out.name}")

    def on_progress(step: int, steps: int) -> None:
        update_progress_artifact(progress_id, min(100.0, 100.0 * step / max(steps, 1)))

    monitor = TrainingMonitor(total_steps=total, on_progress=on_progress)
    job = model_jobs.sft_job(model, verl.train_path, verl.val_path, data, spec, out,
                             root / "jobs" / "sft" / out.name, resources)
    try:
        done = run_model_job(job, target, outputs=[out], watch=monitor.feed).result
    finally:
        if monitor.steps:
            create_table_artifact(monitor.steps, key="sft-metrics",
                                  description="SFT loss, learning rate, grad norm per step")
    signal = ParseRate.model_validate(done.pop("signal"))
    result = SftResult(key=out.name, model_dir=out, metrics=done, signal=signal,
                       progress=monitor.steps)
    rows = [_signal_line("base", base_signal)] if base_signal else []
    create_markdown_artifact(
        f"# SFT warm start\n\n{done['examples']} train examples ({done['too_long']} too "
        f"long), {done['steps']} steps, {done['epochs']} epochs; train loss "
        f"{done['first_loss']:.3f} -> {done['last_loss']:.3f}; answer NLL on "
        f"train examples {done['answer_nll_before']:.3f} -> {done['answer_nll_after']:.3f}."
        "\n\n| model | parse rate | mean reward | groups with differing rewards |\n"
        "|---|---|---|---|\n" + "\n".join([*rows, _signal_line("sft", signal)]),
        key="sft-warm-start")
    logger.info("SFT model %s: parse rate %.0f%%, mean reward %.3f, %d/%d prompt groups with "
                "differing rewards", out, 100 * signal.rate, signal.mean_reward,
                signal.groups_with_signal, signal.prompts)
    return result


def _train_plan(spec: TrainSpec, verl: VerlResult, model: str, data: DataConfig,
                target: RayTarget, root: Path, timeout_s: float | None = None,
                resources: JobResources | None = None) -> tuple[str, Path]:
    out = run.train_dir(verl, spec, model, root)
    return out.name, out


@task(
    name="train-judge",
    retries=2,
    retry_delay_seconds=[15, 60],
    retry_condition_fn=worth_retrying_task,
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
    resources: JobResources | None = None,
) -> run.TrainResult:
    """Submit the GRPO job (or re-attach to it), stream its log and metrics, wait.

    The driver asks only for the custom resources of `resources` (which node); verl's
    own workers claim the CPUs or GPUs."""
    logger = get_run_logger()
    secrets = job_secrets(secret_block)
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

    start = run.sft_dir(verl, spec, model, root)
    if start is not None and not is_complete(start):
        raise ConfigError(f"training.sft is enabled but its model {start} is not there: "
                          "run sft-warm-start before train-judge")
    paths = run.run_paths(spec, verl, model, out, data, start)
    client = target_client(target, secret_block)
    try:
        result = run.train(spec, paths, out, client, str(flow_run.id or "local"), monitor,
                           on_lines, secrets, timeout_s,
                           resources.node_placement() if resources else None, start)
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
    return run.stop_run_jobs(target_client(RayTarget(address=config.address), secret_block),
                             run_id)
