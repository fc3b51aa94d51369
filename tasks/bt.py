"""Bradley-Terry tasks: the BT training job and the one job that scores the val rows
with every BT model, each cached by its stage key."""

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
from pydantic import BaseModel

from rm_core import model_jobs
from rm_core.artifacts import is_complete, read_result, stage_dir, stage_key
from rm_core.cluster.resources import JobResources
from rm_core.cluster.stage_jobs import check_resources
from rm_core.cluster.target import RayTarget, target_client
from rm_core.config import DataConfig
from rm_core.data import stage as data_stage
from rm_core.evaluation import report, stage
from rm_core.evaluation.bt_scoring import BT_FILE, BtScores
from rm_core.evaluation.settings import DECISION_ONLY, EvaluationSettings
from rm_core.training.bt_spec import BtSpec
from rm_core.training.monitor import TrainingMonitor
from rm_core.training.run import model_fingerprint
from tasks.caching import stage_cache_key
from tasks.cluster import run_model_job, secret_block, worth_retrying_task
from tasks.evaluation import ModelToJudge


class BtModel(BaseModel):
    """A trained Bradley-Terry model: its folder and what its job reported."""

    key: str
    model_dir: Path
    metrics: dict[str, object]
    steps: list[dict[str, float]] = []


class BtJudged(BaseModel):
    """One model's judgement of the val rows and what only a scalar reward shows."""

    judged: stage.EvaluatedModel
    scores: BtScores


def bt_key(split: data_stage.SplitResult, spec: BtSpec, model: str | Path) -> str:
    """The BT model's key: the split (so the samples, the source data and data config),
    the spec, the base model's files and the BT training code."""
    return stage_key("bt", split=split.key, spec=spec.model_dump(mode="json"),
                     model=model_fingerprint(model))


def decision_key(split: data_stage.SplitResult, verl: data_stage.VerlResult, spec: BtSpec,
                 model: str | Path) -> str:
    """What a promotion decision on a BT model depends on besides the evaluation settings:
    the model's key, the val rows it is judged on and the BT scoring code. An unchanged
    one means the run would reproduce the decision taken."""
    return stage_key("bt-eval", bt=bt_key(split, spec, model), verl=verl.key)


def bt_dir(split: data_stage.SplitResult, spec: BtSpec, model: str | Path,
           root: Path) -> Path:
    return stage_dir(root, "bt", bt_key(split, spec, model))


def _train_plan(model: str, split: data_stage.SplitResult, data: DataConfig, spec: BtSpec,
                root: Path, target: RayTarget, resources: JobResources) -> tuple[str, Path]:
    out = bt_dir(split, spec, model, root)
    return out.name, out


def step_table(steps: list[dict[str, float]]) -> list[dict[str, float | int | None]]:
    """One row per logged step: the step and every `bt/` metric, rounded."""
    return [{"step": int(metrics["step"]),
             **{key.removeprefix("bt/"): round(value, 4) for key, value in metrics.items()
                if key.startswith("bt/")}} for metrics in steps]


@task(name="train-bt", retries=2, retry_delay_seconds=[15, 60],
      retry_condition_fn=worth_retrying_task, cache_key_fn=stage_cache_key(_train_plan),
      persist_result=True)
def train_bt(model: str, split: data_stage.SplitResult, data: DataConfig, spec: BtSpec,
             root: Path, target: RayTarget, resources: JobResources) -> BtModel:
    """Train the base model with a scalar head on the train split's pairs (TRL's
    RewardTrainer under Ray Train, a job on the cluster). A killed job resumes from its
    last checkpoint on the task's retry."""
    logger = get_run_logger()
    out = bt_dir(split, spec, model, root)
    monitor = TrainingMonitor(total_steps=math.ceil(split.report.train_rows / 2 / spec.batch_size)
                              * spec.epochs)
    if is_complete(out):
        done = read_result(out)
    else:
        check_resources(target_client(target, secret_block), resources,
                        "the bt job's Ray Train worker")
        progress_id = create_progress_artifact(0.0, key="bt-progress",
                                               description=f"Bradley-Terry steps of {out.name}")

        def on_progress(step: int, steps: int) -> None:
            update_progress_artifact(progress_id, min(100.0, 100.0 * step / max(steps, 1)))

        monitor.on_progress = on_progress
        job = model_jobs.bt_train_job(model, split.train_path, data, spec, out,
                                      root / "jobs" / "bt" / out.name, resources)
        try:
            done = run_model_job(job, target, outputs=[out], watch=monitor.feed).result
        finally:
            if monitor.steps:
                create_table_artifact(step_table(monitor.steps), key="bt-metrics",
                                      description="Bradley-Terry loss, accuracy, margin and "
                                                  "rewards per step")
    message = (f"Bradley-Terry model {out}: {done['pairs']} train pairs ({done['ties_skipped']} "
               f"ties and {done['too_long']} too long left out), {done['steps']} steps, "
               f"train loss {done['train_loss']:.4f}; reward mean {done['reward_mean']:.4f}, "
               f"std {done['reward_std']:.4f}")
    logger.info(message)
    create_markdown_artifact(f"# Bradley-Terry training\n\n{message}.\n", key="bt-training")
    return BtModel(key=out.name, model_dir=out, metrics=done, steps=monitor.steps)


def bt_eval_dir(model_dir: Path, val_path: Path, samples_path: Path,
                settings: EvaluationSettings, seed: int, root: Path) -> Path:
    """Where a model's scoring of these rows is stored: a stored one is not redone."""
    key = stage_key("bt-eval", model=model_fingerprint(model_dir),
                    val=stage.file_fingerprint(val_path),
                    samples=stage.file_fingerprint(samples_path), seed=seed,
                    settings=settings.model_dump(mode="json", exclude=set(DECISION_ONLY)))
    return stage_dir(root, "bt-eval", key)


@task(name="judge-bt-models", retries=2, retry_delay_seconds=[10, 60],
      retry_condition_fn=worth_retrying_task)
def judge_bt_models(models: list[ModelToJudge], val_path: Path, samples_path: Path,
                    data: DataConfig, settings: EvaluationSettings, seed: int, root: Path,
                    target: RayTarget, resources: JobResources) -> list[BtJudged]:
    """Score the val rows with every model in one job on the cluster; a base model gets a
    fresh head drawn from `seed` (the reference before training)."""
    outs = [bt_eval_dir(model.model_dir, val_path, samples_path, settings, seed, root)
            for model in models]
    todo = [(model.model_dir, out) for model, out in zip(models, outs, strict=True)
            if not is_complete(out)]
    if todo:
        work_dir = root / "jobs" / "bt-judge" / stage_key("bt-eval", outs=sorted(map(str, outs)))
        job = model_jobs.bt_judge_job(todo, val_path, samples_path, data, settings, work_dir,
                                      resources, seed)
        run_model_job(job, target, outputs=[out for _, out in todo])
    judged = [BtJudged(judged=stage.read_evaluated(model.label, model.kind, model.step,
                                                   model.model_dir, out),
                       scores=BtScores.model_validate_json((out / BT_FILE).read_text("utf-8")))
              for model, out in zip(models, outs, strict=True)]
    for model in judged:
        get_run_logger().info("%s", report.describe(model.judged))
    return judged
