"""evaluate-checkpoints: judge a run's checkpoints (or any model folder) on validation rows.

Run it with `python -m flows.evaluate_checkpoints [CONFIG] [--run-dir DIR] [--model-dir DIR]
[--val-path PARQUET] [--train-path PARQUET] [--base-model PATH] [--promote] [--artifacts-dir DIR]`.
Without `--val-path` the experiment's data stage provides the validation and train rows
(cached); with it, the train rows (for the text baseline) are `--train-path`, else the
`train.parquet` beside the validation file when there is one.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.runtime import flow_run

from flows.prepare_data import prepare_data, resolve_config
from rm_core.artifacts import code_version
from rm_core.cluster.target import RayTarget
from rm_core.config import ExperimentConfig, load_experiment, registry_dir
from rm_core.data.stage import judge_kind
from rm_core.errors import ConfigError, RmPipelineError
from rm_core.evaluation import stage
from rm_core.evaluation.promotion import evaluation_version
from rm_core.evaluation.report import EvaluationSummary
from rm_core.evaluation.settings import resolved_metric
from rm_core.training.run import sft_start
from rm_core.training.spec import WandbSettings
from tasks.benchmarks import BenchmarkStep, benchmark_candidates
from tasks.cluster import ray_target
from tasks.evaluation import (
    ModelToJudge,
    champion_model,
    compare_with_champion,
    judge_models,
    merge_checkpoints,
    publish_history,
    report_evaluation,
    text_baseline,
)
from tasks.lineage import record_champion, record_checkpoints
from tasks.training import prepare_model

DEFAULT_CONFIG = "configs/pointwise_helpsteer2_sample.yaml"
# Without a training spec to take max_response_length from: enough for "<score>N</score>".
DEFAULT_MAX_NEW_TOKENS = 64


def _config(config_path: str, artifacts_dir: str | None) -> ExperimentConfig:
    config = load_experiment(resolve_config(config_path))
    if artifacts_dir:
        config = config.model_copy(update={"artifacts_dir": Path(artifacts_dir).resolve()})
    return config


def promotion_metric(config: ExperimentConfig, config_path: str) -> str:
    """The metric candidates are ranked and promoted by, checked against the judge kind."""
    try:
        return resolved_metric(config.evaluation, judge_kind(config.data) == "pairwise")
    except ValueError as exc:
        raise ConfigError(f"{config_path}: {exc}") from exc


def _max_new_tokens(config: ExperimentConfig) -> int:
    training = config.training
    return config.evaluation.max_new_tokens or (
        training.grpo.max_response_length if training else DEFAULT_MAX_NEW_TOKENS)


def report_dir(config: ExperimentConfig) -> Path:
    """Where this flow run's report goes."""
    return config.artifacts_dir / "reports" / str(flow_run.id or "local")


def _provenance(config: ExperimentConfig, train_key: str | None) -> dict[str, Any]:
    """What a promoted champion came from: a nightly run compares it to skip retraining."""
    return {"experiment": config.name, "train_key": train_key,
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
    config: ExperimentConfig | None = None,
    cluster: RayTarget | None = None,
    train_path: str | None = None,
) -> EvaluationSummary:
    """Base model vs every checkpoint (vs the champion) vs the references, with CIs, plots
    and a decision through the gate; with `evaluation.benchmarks`, the best candidate and
    the incumbent on those public benchmarks too (a report section, optionally the bar).

    A training flow passes its resolved `config` (overrides applied), its `cluster` and
    its verl `train_path` (the text baseline's rows); run alone, the flow reads
    `config_path` and uses the configured cluster."""
    if run_dir is None and model_dir is None:
        raise ConfigError("nothing to evaluate: give a training run directory or a model folder")
    config = config or _config(config_path, artifacts_dir)
    root, training = config.artifacts_dir, config.training
    metric = promotion_metric(config, config_path)
    val, train = _rows(config_path, config, val_path, train_path)
    run = Path(run_dir) if run_dir else None
    steps = stage.run_checkpoints(run) if run else {}
    registry, resources = registry_dir(config), config.ray.model_jobs
    with _cluster(config, cluster) as target:
        base = base_model or (training.model_path if training else None)
        models = [ModelToJudge(label="base", kind="base", step=0,
                               model_dir=Path(prepare_model(base, root, target, resources)))
                  ] if config.evaluation.include_base and base else []
        sft_model = sft_start(run) if run else None
        if sft_model:  # the warm start GRPO began from: a candidate beside its steps
            models.append(ModelToJudge(label="sft", kind="model", model_dir=sft_model))
        merged = merge_checkpoints(steps, root, target, resources)
        models += [ModelToJudge(label=stage.step_label(step), kind="checkpoint", step=step,
                                model_dir=folder) for step, folder in merged.items()]
        if model_dir:
            models.append(ModelToJudge(label=Path(model_dir).name, kind="model",
                                       model_dir=Path(model_dir)))
        champion_dir = champion_model(registry)
        if champion_dir:
            models.append(ModelToJudge(label="champion", kind="champion",
                                       model_dir=champion_dir))
        judged = judge_models(models, val, config.data, config.evaluation,
                              _max_new_tokens(config), root, target, resources)
        benched = benchmark_candidates(judged, metric, config.data, config.evaluation,
                                       _max_new_tokens(config), root, target, resources,
                                       registry, report_dir(config))
    record_checkpoints(config.name, steps, val.parent)
    words = text_baseline(train, val, config.data, config.evaluation)
    title = f"{config.name} {run.name[:12] if run else Path(model_dir or '').name}"
    return decide_and_report(config, metric, judged, val, words, title,
                             run.name if run else None, promote, steps,
                             stage.training_metrics(run) if run else [], benched=benched)


def decide_and_report(config: ExperimentConfig, metric: str, judged: list[stage.EvaluatedModel],
                      val: Path, words: stage.EvaluatedModel | None, title: str,
                      train_key: str | None, promote: bool,
                      sources: dict[int, Path] | None = None,
                      training_metrics: list[dict[str, Any]] | None = None,
                      champion_notes: dict[str, Any] | None = None,
                      sections: list[str] | None = None,
                      benched: BenchmarkStep | None = None) -> EvaluationSummary:
    """How every training flow ends, whatever judged its models: the best candidate through
    the gate against the champion (none yet: the base model), the decision recorded in the
    experiment's registry, a promoted champion's lineage noted (made from `sources[step]`,
    else its folder, with `champion_notes`), and the report (`sections` and the public
    benchmarks' scores, `benched`, added to it)."""
    registry = registry_dir(config)
    base_judged = next((m for m in judged if m.kind == "base"), None)
    champion = next((m for m in judged if m.kind == "champion"), None)
    best = stage.best_candidate(judged, metric)
    decision, decisions = None, None
    if promote and best is not None:
        decision = compare_with_champion(
            registry, best, champion, metric, stage.file_fingerprint(val),
            str(flow_run.root_flow_run_id or "local"), _provenance(config, train_key),
            base_judged, config.evaluation, words, benched.outcome if benched else None,
        )  # fmt: skip
        decisions = publish_history(registry, config.name)
        if decision.promote:
            record_champion(config.name, registry,
                            (sources or {}).get(best.step or 0, best.model_dir),
                            {"metric": decision.metric, "value": decision.challenger_value,
                             **(champion_notes or {})})
    training = config.training
    return report_evaluation(title, metric, judged, best, decision, training_metrics or [],
                             report_dir(config),
                             training.wandb if training else WandbSettings(enabled=False),
                             [words] if words else [], config.evaluation.collapse_share,
                             decisions, benched.results if benched else None, sections)


def _rows(config_path: str, config: ExperimentConfig, val_path: str | None,
          train_path: str | None) -> tuple[Path, Path | None]:
    """(validation rows, train rows or None): the data stage's (cached) when no validation
    file is given, else the given files, the train file defaulting to the data stage's
    `train.parquet` beside the validation file."""
    if not val_path:
        data = prepare_data(config_path, str(config.artifacts_dir), config)
        return data.val_path, Path(train_path) if train_path else data.train_path
    val = Path(val_path)
    if train_path:
        return val, Path(train_path)
    beside = val.with_name("train.parquet")
    return val, beside if beside.is_file() else None


@contextmanager
def _cluster(config: ExperimentConfig, given: RayTarget | None) -> Iterator[RayTarget]:
    """The cluster the training flow passed, else the configured one (or a local head)."""
    if given is not None:
        yield given
        return
    with ray_target(config.ray) as target:
        yield target


def main(argv: list[str] | None = None) -> int:
    """Command line entry: run the flow and say where the report is."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=DEFAULT_CONFIG)
    parser.add_argument("--run-dir")
    parser.add_argument("--model-dir")
    parser.add_argument("--val-path")
    parser.add_argument("--train-path", help="verl train rows the text baseline is fitted on")
    parser.add_argument("--base-model")
    parser.add_argument("--promote", action="store_true")
    parser.add_argument("--artifacts-dir")
    args = parser.parse_args(argv)
    try:
        summary = evaluate_checkpoints(args.config, args.run_dir, args.model_dir, args.val_path,
                                       args.base_model, args.promote, args.artifacts_dir,
                                       train_path=args.train_path)
    except RmPipelineError as exc:
        print(f"evaluate-checkpoints failed: {exc}", file=sys.stderr)
        return 1
    print(f"evaluation report: {summary.report_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
