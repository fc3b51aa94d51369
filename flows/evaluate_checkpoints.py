"""evaluate-checkpoints: judge a run's checkpoints (or any model folder) on validation rows.

Run it with `python -m flows.evaluate_checkpoints [CONFIG] [--run-dir DIR] [--model-dir DIR]
[--val-path PARQUET] [--base-model PATH] [--promote] [--artifacts-dir DIR]`.
Without `--val-path` the experiment's data stage provides the validation rows (cached).
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.runtime import flow_run

from flows.prepare_data import prepare_data, resolve_config
from rm_core.artifacts import code_version
from rm_core.config import ExperimentConfig, load_experiment, registry_dir
from rm_core.data.stage import judge_kind
from rm_core.errors import ConfigError, RmPipelineError
from rm_core.evaluation import stage
from rm_core.evaluation.promotion import evaluation_version
from rm_core.evaluation.report import EvaluationSummary
from rm_core.evaluation.settings import resolved_metric
from rm_core.training.spec import WandbSettings
from tasks.evaluation import (
    champion_model,
    compare_with_champion,
    evaluate_judge,
    merge_checkpoint,
    report_evaluation,
)
from tasks.training import prepare_model

DEFAULT_CONFIG = "configs/pointwise_helpsteer2_sample.yaml"
# Without a training spec to take max_response_length from: enough for "<score>N</score>".
DEFAULT_MAX_NEW_TOKENS = 64


def _config(config_path: str, artifacts_dir: str | None) -> ExperimentConfig:
    config = load_experiment(resolve_config(config_path))
    if artifacts_dir:
        config = config.model_copy(update={"artifacts_dir": Path(artifacts_dir).resolve()})
    return config


def _metric(config: ExperimentConfig, config_path: str) -> str:
    """The metric candidates are ranked and promoted by, checked against the judge kind."""
    try:
        return resolved_metric(config.evaluation, judge_kind(config.data) == "pairwise")
    except ValueError as exc:
        raise ConfigError(f"{config_path}: {exc}") from exc


def _max_new_tokens(config: ExperimentConfig) -> int:
    training = config.training
    return config.evaluation.max_new_tokens or (
        training.grpo.max_response_length if training else DEFAULT_MAX_NEW_TOKENS)


def _provenance(config: ExperimentConfig, run_dir: Path | None) -> dict[str, Any]:
    """What a promoted champion came from: a nightly run compares it to skip retraining."""
    return {"experiment": config.name, "train_key": run_dir.name if run_dir else None,
            "evaluation_version": evaluation_version(config.evaluation),
            "code_version": code_version(), "config": config.model_dump(mode="json")}


@flow(name="evaluate-checkpoints", log_prints=True)
def evaluate_checkpoints(
    config_path: str = DEFAULT_CONFIG,
    run_dir: str | None = None,
    model_dir: str | None = None,
    val_path: str | None = None,
    base_model: str | None = None,
    promote: bool = False,
    artifacts_dir: str | None = None,
) -> EvaluationSummary:
    """Base model vs every checkpoint (vs the champion), with CIs, plots and a decision."""
    if run_dir is None and model_dir is None:
        raise ConfigError("nothing to evaluate: give a training run directory or a model folder")
    config = _config(config_path, artifacts_dir)
    root, training, metric = config.artifacts_dir, config.training, _metric(config, config_path)
    val = Path(val_path) if val_path else prepare_data(config_path, str(root)).val_path
    judge = partial(evaluate_judge, val_path=val, data=config.data, settings=config.evaluation,
                    max_new_tokens=_max_new_tokens(config), root=root)

    base = base_model or (training.model_path if training else None)
    base_judged = None
    if config.evaluation.include_base and base:
        base_judged = judge("base", "base", 0, Path(prepare_model(base, root)))
    run = Path(run_dir) if run_dir else None
    candidates: list[stage.EvaluatedModel] = []
    if run is not None:
        for step, step_dir in stage.run_checkpoints(run).items():
            candidates.append(judge(stage.step_label(step), "checkpoint", step,
                                    merge_checkpoint(step_dir, root)))
    if model_dir:
        candidates.append(judge(Path(model_dir).name, "model", None, Path(model_dir)))
    registry = registry_dir(config)
    champion_dir = champion_model(registry)
    champion = judge("champion", "champion", None, champion_dir) if champion_dir else None

    best = stage.best_candidate(candidates, metric)
    decision = None
    if promote and best is not None:
        decision = compare_with_champion(
            registry, best, champion, metric, stage.file_fingerprint(val),
            str(flow_run.root_flow_run_id or "local"), _provenance(config, run), base_judged,
        )  # fmt: skip
    models = [m for m in (base_judged, *candidates, champion) if m is not None]
    title = f"{config.name} {run.name[:12] if run else Path(model_dir or '').name}"
    return report_evaluation(title, metric, models, best, decision,
                             stage.training_metrics(run) if run else [],
                             root / "reports" / str(flow_run.id or "local"),
                             training.wandb if training else WandbSettings(enabled=False))


def main(argv: list[str] | None = None) -> int:
    """Command line entry: run the flow and say where the report is."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=DEFAULT_CONFIG)
    parser.add_argument("--run-dir")
    parser.add_argument("--model-dir")
    parser.add_argument("--val-path")
    parser.add_argument("--base-model")
    parser.add_argument("--promote", action="store_true")
    parser.add_argument("--artifacts-dir")
    args = parser.parse_args(argv)
    try:
        summary = evaluate_checkpoints(args.config, args.run_dir, args.model_dir, args.val_path,
                                       args.base_model, args.promote, args.artifacts_dir)
    except RmPipelineError as exc:
        print(f"evaluate-checkpoints failed: {exc}", file=sys.stderr)
        return 1
    print(f"evaluation report: {summary.report_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
