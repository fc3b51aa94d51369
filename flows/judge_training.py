"""What the training flows share: the run config (checked to be this flow's kind), its
result, the cancellation hook and the CLI. Each flow spells out its own pipeline of
cached tasks (flows/pointwise_train.py, flows/pairwise_train.py, flows/bt_train.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Literal

import yaml
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

# What a training flow trains: a generative judge of either kind, or a Bradley-Terry model.
FlowKind = Literal["pointwise", "pairwise", "bt"]
FLOW_KINDS: dict[str, FlowKind] = {"pointwise-train": "pointwise", "pairwise-train": "pairwise",
                                   "bt-train": "bt"}


class JudgeTrainResult(BaseModel):
    """What a run produced: the trained checkpoints and their evaluation, or why it
    skipped both."""

    train: TrainResult | None = None
    evaluation: EvaluationSummary | None = None
    skipped: str | None = None

    def lines(self) -> list[str]:
        """What the command line says about a run that trained."""
        return [f"trained {self.train.last_step} steps; checkpoints in "
                f"{self.train.checkpoint_dir}", *evaluation_lines(self.evaluation)]


def evaluation_lines(evaluation: EvaluationSummary) -> list[str]:
    """The decision and where the report is, as the command line says them."""
    decision = evaluation.decision
    said = [] if decision is None else [
        ("promoted: " if decision.promote else "not promoted: ") + decision.reason]
    return [*said, f"evaluation report: {evaluation.report_path}"]


class RunSettings(BaseModel):
    """What a training run changes in its experiment config, in one piece: the flows'
    parameters besides the config path and `force` (other keys are ignored, so a flow
    run's parameters validate as they are)."""

    max_steps: int | None = None
    model_path: str | None = None
    profile: str | None = None
    ray_address: str | None = None
    artifacts_dir: str | None = None
    overrides: dict[str, Any] | None = None

    def config_overrides(self, section: str = "training") -> dict[str, Any]:
        """The config keys the run changes: its named settings and its generic `overrides`
        (dotted keys -> values). One key given both ways with different values is an error.
        `section` is the spec the model and profile belong to (`bradley_terry` for bt-train)."""
        named = {
            "training.grpo.total_training_steps": self.max_steps,
            f"{section}.model_path": self.model_path,
            f"{section}.profile": self.profile,
            "ray.address": self.ray_address,
        }
        named = {key: value for key, value in named.items() if value is not None}
        given = dict(self.overrides or {})
        clashes = sorted(key for key in named.keys() & given.keys() if named[key] != given[key])
        if clashes:
            raise ConfigError(f"{', '.join(clashes)} set twice with different values: by a "
                              "flow parameter and in `overrides`")
        return {**given, **named}


def load_run_config(config_path: str, kind: FlowKind, settings: RunSettings) -> ExperimentConfig:
    """The one resolved config of a run with these settings, checked for this flow: every
    stage (data, training, evaluation, the registry's record) gets this object."""
    path = resolve_config(config_path)
    section = "bradley_terry" if kind == "bt" else "training"
    config = load_experiment(path, settings.config_overrides(section))
    check_flow_kind(config, kind, path)
    if settings.artifacts_dir:
        config = config.model_copy(
            update={"artifacts_dir": Path(settings.artifacts_dir).resolve()})
    return config


def check_flow_kind(config: ExperimentConfig, kind: FlowKind, path: Path) -> None:
    """Refuse a config the flow of `kind` cannot train, naming the flow that can: a
    `bradley_terry` section is bt-train's; a `training` section trains a generative judge
    of the data's kind; a Bradley-Terry model needs preference pairs."""
    data_kind = judge_kind(config.data)
    if kind == "bt":
        if config.bradley_terry is None:
            hint = (f"its `training` section trains a generative {data_kind} judge: run "
                    f"{data_kind}-train with it" if config.training is not None
                    else "add one to train a Bradley-Terry reward model")
            raise ConfigError(f"{path} has no `bradley_terry` section, which bt-train "
                              f"trains: {hint}")
        if data_kind != "pairwise":
            raise ConfigError(f"{path} has {data_kind} data (converter "
                              f"{config.data.converter}): a Bradley-Terry model needs "
                              "preference pairs (helpsteer2_pairwise or "
                              "chosen_rejected_pairwise)")
        return
    if config.bradley_terry is not None:
        raise ConfigError(f"{path} describes a Bradley-Terry reward model (its "
                          f"`bradley_terry` section): run bt-train with it, not {kind}-train")
    if config.training is None:
        raise ConfigError(f"{path} has no `training` section")
    if data_kind != kind:
        raise ConfigError(f"{path} describes a {data_kind} judge: run {data_kind}-train with "
                          f"it, not {kind}-train")


def config_setting(text: str) -> tuple[str, Any]:
    """`--set KEY=VALUE`: a dotted config key and its value read as YAML (6, false, a name)."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"wants KEY=VALUE, got {text!r}")
    try:
        return key, yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise argparse.ArgumentTypeError(f"the value of {key} is not YAML: {exc}") from exc


def stop_jobs_on_cancellation(flow: Flow, flow_run: FlowRun, state: State) -> None:
    """A cancelled run stops the Ray jobs it submitted."""
    parameters = flow_run.parameters
    config = load_run_config(parameters["config_path"], FLOW_KINDS[flow.name],
                             RunSettings.model_validate(parameters))
    stop_training_jobs(config.ray, str(flow_run.id))


def run_cli(train: Flow[..., Any], default_config: str, description: str,
            argv: list[str] | None, max_steps: bool = True) -> int:
    """Command line entry of a training flow: run it, say what it produced, no tracebacks.
    The flow's result has `skipped` and `lines()`; `max_steps` offers `--max-steps`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("config", nargs="?", default=default_config)
    if max_steps:
        parser.add_argument("--max-steps", type=int)
    parser.add_argument("--model")
    parser.add_argument("--profile", choices=["cpu", "gpu"])
    parser.add_argument("--ray-address")
    parser.add_argument("--artifacts-dir")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        type=config_setting, metavar="KEY=VALUE",
                        help="set any config key for this run, e.g. --set evaluation.limit=6 "
                        "(dotted key; the value is read as YAML); repeatable")
    parser.add_argument("--force", action="store_true",
                        help="train even when nothing changed since this model was last "
                        "trained and decided on")
    args = parser.parse_args(argv)
    steps = {"max_steps": args.max_steps} if max_steps else {}
    try:
        result = train(args.config, model_path=args.model, profile=args.profile,
                       ray_address=args.ray_address, artifacts_dir=args.artifacts_dir,
                       overrides=dict(args.overrides) or None, force=args.force, **steps)
    except RmPipelineError as exc:
        print(f"{train.name} failed: {exc}", file=sys.stderr)
        return 1
    if result.skipped:
        print(f"skipped: {result.skipped}")
        return 0
    print("\n".join(result.lines()))
    return 0
