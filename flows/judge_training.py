"""What pointwise-train and pairwise-train share: the run config, its result, the
cancellation hook and the CLI. Each flow spells out its own pipeline of the same cached
tasks (flows/pointwise_train.py, flows/pairwise_train.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Literal

from prefect import Flow
from prefect.client.schemas.objects import FlowRun
from prefect.states import State
from pydantic import BaseModel

from flows.prepare_data import resolve_config
from rm_core.config import ExperimentConfig, load_experiment
from rm_core.data.stage import judge_kind
from rm_core.errors import ConfigError, RmPipelineError
from rm_core.evaluation.report import EvaluationSummary
from rm_core.training.run import TrainResult
from tasks.training import stop_training_jobs

JudgeKind = Literal["pointwise", "pairwise"]


class JudgeTrainResult(BaseModel):
    """What a run produced: the trained checkpoints and their evaluation, or why it
    skipped both."""

    train: TrainResult | None = None
    evaluation: EvaluationSummary | None = None
    skipped: str | None = None


def overrides(max_steps: int | None, model_path: str | None, profile: str | None,
              ray_address: str | None) -> dict[str, Any]:
    """The config keys the flow's parameters change."""
    chosen = {
        "training.grpo.total_training_steps": max_steps,
        "training.model_path": model_path,
        "training.profile": profile,
        "ray.address": ray_address,
    }
    return {key: value for key, value in chosen.items() if value is not None}


def load_run_config(
    config_path: str,
    kind: JudgeKind,
    max_steps: int | None = None,
    model_path: str | None = None,
    profile: str | None = None,
    ray_address: str | None = None,
    artifacts_dir: str | None = None,
) -> ExperimentConfig:
    """The experiment config a run with these parameters uses, checked for this flow."""
    path = resolve_config(config_path)
    config = load_experiment(path, overrides(max_steps, model_path, profile, ray_address))
    if config.training is None:
        raise ConfigError(f"{path} has no `training` section")
    actual = judge_kind(config.data)
    if actual != kind:
        raise ConfigError(f"{path} describes a {actual} judge: run {actual}-train with it, "
                          f"not {kind}-train")
    if artifacts_dir:
        config = config.model_copy(update={"artifacts_dir": Path(artifacts_dir).resolve()})
    return config


def stop_jobs_on_cancellation(flow: Flow, flow_run: FlowRun, state: State) -> None:
    """A cancelled run stops the Ray jobs it submitted."""
    kind: JudgeKind = "pairwise" if flow.name == "pairwise-train" else "pointwise"
    settings = {k: v for k, v in flow_run.parameters.items() if k != "force"}
    stop_training_jobs(load_run_config(kind=kind, **settings).ray, str(flow_run.id))


def run_cli(train: Flow[..., JudgeTrainResult], default_config: str, description: str,
            argv: list[str] | None) -> int:
    """Command line entry of a training flow: run it, say what it produced, no tracebacks."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("config", nargs="?", default=default_config)
    parser.add_argument("--max-steps", type=int)
    parser.add_argument("--model")
    parser.add_argument("--profile", choices=["cpu", "gpu"])
    parser.add_argument("--ray-address")
    parser.add_argument("--artifacts-dir")
    parser.add_argument("--force", action="store_true",
                        help="train even when nothing changed since this judge was last "
                        "trained and decided on")
    args = parser.parse_args(argv)
    try:
        result = train(args.config, args.max_steps, args.model, args.profile,
                       args.ray_address, args.artifacts_dir, args.force)
    except RmPipelineError as exc:
        print(f"{train.name} failed: {exc}", file=sys.stderr)
        return 1
    if result.skipped:
        print(f"skipped: {result.skipped}")
        return 0
    trained, evaluation = result.train, result.evaluation
    print(f"trained {trained.last_step} steps; checkpoints in {trained.checkpoint_dir}")
    if evaluation.decision is not None:
        print(("promoted: " if evaluation.decision.promote else "not promoted: ")
              + evaluation.decision.reason)
    print(f"evaluation report: {evaluation.report_path}")
    return 0
