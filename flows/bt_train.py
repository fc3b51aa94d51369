"""bt-train: prepare the pairs -> model ready -> a Bradley-Terry reward model on Ray ->
judge it beside the base model -> promote or not, through the judges' gate and registry.

Run it with `python -m flows.bt_train [CONFIG] [--model PATH] [--profile cpu|gpu]
[--ray-address URL] [--artifacts-dir DIR] [--set KEY=VALUE ...] [--force]`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from prefect import flow
from pydantic import BaseModel

from flows.evaluate_checkpoints import decide_and_report, promotion_metric
from flows.judge_training import (
    RunSettings,
    evaluation_lines,
    load_run_config,
    run_cli,
    stop_jobs_on_cancellation,
)
from flows.prepare_data import data_stages
from rm_core.cluster.target import RayTarget
from rm_core.config import ExperimentConfig, registry_dir
from rm_core.data.stage import SplitResult, VerlResult
from rm_core.evaluation.bt_report import bt_section
from rm_core.evaluation.report import EvaluationSummary
from tasks.bt import BtModel, decision_key, judge_bt_models, train_bt
from tasks.cluster import ray_target
from tasks.concurrency import training_slot
from tasks.evaluation import ModelToJudge, champion_model, check_for_changes, text_baseline
from tasks.failures import announce_failure
from tasks.training import prepare_model

DEFAULT_CONFIG = "configs/bt_helpsteer2_sample.yaml"
DESCRIPTION = (
    "Train a Bradley-Terry reward model (the base model with a scalar head) on preference "
    "pairs, judge it beside the base model on the pairwise judge's val rows, promote it if "
    "it clears the gate; every stage cached. Skips when nothing changed since it was last "
    "trained and decided on, unless `force`."
)


class BtTrainResult(BaseModel):
    """What a run produced: the BT model and its evaluation, or why it skipped both."""

    train: BtModel | None = None
    evaluation: EvaluationSummary | None = None
    skipped: str | None = None

    def lines(self) -> list[str]:
        """What the command line says about a run that trained."""
        return [f"trained {self.train.metrics['steps']} steps: {self.train.model_dir}",
                *evaluation_lines(self.evaluation)]


@flow(name="bt-train", description=DESCRIPTION, log_prints=True,
      on_cancellation=[stop_jobs_on_cancellation], on_failure=[announce_failure])
def bt_train(
    config_path: str = DEFAULT_CONFIG,
    model_path: str | None = None,
    profile: str | None = None,
    ray_address: str | None = None,
    artifacts_dir: str | None = None,
    overrides: dict[str, Any] | None = None,
    force: bool = False,
) -> BtTrainResult:
    """run config -> pairs (the split, verl val rows) -> base model -> skip if
    unchanged -> BT training on Ray -> judge base and trained model, decide, report.

    `overrides` sets any config key (`{"bradley_terry.epochs": 2}`)."""
    config = load_run_config(config_path, "bt", RunSettings(
        model_path=model_path, profile=profile, ray_address=ray_address,
        artifacts_dir=artifacts_dir, overrides=overrides))
    root, spec, resources = config.artifacts_dir, config.bradley_terry, config.ray.model_jobs
    metric = promotion_metric(config, config_path)
    split, verl = data_stages(config, root)
    with ray_target(config.ray) as cluster:
        model = prepare_model(spec.model_path, root, cluster, resources)
        key = decision_key(split, verl, spec, model)
        skipped = check_for_changes(registry_dir(config), key, config.evaluation, force)
        if skipped:
            return BtTrainResult(skipped=skipped)
        with training_slot(config) as busy:
            if busy:
                return BtTrainResult(skipped=busy)
            trained = train_bt(model, split, config.data, spec, root, cluster, resources)
        evaluation = evaluate_bt(config, metric, trained, model, split, verl, key,
                                 cluster)
    return BtTrainResult(train=trained, evaluation=evaluation)


def evaluate_bt(config: ExperimentConfig, metric: str, trained: BtModel, model: str,
                split: SplitResult, verl: VerlResult, key: str, cluster: RayTarget
                ) -> EvaluationSummary:
    """The base model with a fresh seeded head, the trained model (and the champion) judged
    by one job on the pairwise val rows; then the judges' decision and report."""
    spec, registry = config.bradley_terry, registry_dir(config)
    models = [ModelToJudge(label="base (fresh head)", kind="base", step=0,
                           model_dir=Path(model)),
              ModelToJudge(label="bradley-terry", kind="model", model_dir=trained.model_dir)]
    champion_dir = champion_model(registry)
    if champion_dir:
        models.append(ModelToJudge(label="champion", kind="champion", model_dir=champion_dir))
    judged = judge_bt_models(models, verl.val_path, split.val_path, config.data,
                             config.evaluation, spec.seed, config.artifacts_dir, cluster,
                             config.ray.model_jobs)
    words = text_baseline(verl.train_path, verl.val_path, config.data, config.evaluation)
    return decide_and_report(
        config, metric, [j.judged for j in judged], verl.val_path, words,
        f"{config.name} {trained.key[:12]}", key, True,
        champion_notes={"reward_mean": trained.metrics["reward_mean"],
                        "reward_std": trained.metrics["reward_std"]},
        sections=bt_section([(j.judged.label, j.scores) for j in judged]))


def main(argv: list[str] | None = None) -> int:
    return run_cli(bt_train, DEFAULT_CONFIG, __doc__.splitlines()[0], argv, max_steps=False)


if __name__ == "__main__":
    sys.exit(main())
