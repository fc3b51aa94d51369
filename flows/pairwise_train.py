"""pairwise-train: the pointwise-train pipeline for a judge of preference pairs
(`<preference>A</preference>`), evaluated for accuracy, position bias and conflicts.

Run it with `python -m flows.pairwise_train [CONFIG] [--max-steps N] [--model PATH]
[--profile cpu|gpu] [--ray-address URL] [--artifacts-dir DIR] [--set KEY=VALUE ...] [--force]`.
"""

from __future__ import annotations

import sys
from typing import Any

from prefect import flow

from flows.evaluate_checkpoints import evaluate_checkpoints
from flows.judge_training import (
    JudgeTrainResult,
    RunSettings,
    load_run_config,
    run_cli,
    stop_jobs_on_cancellation,
)
from flows.prepare_data import prepare_data
from rm_core.config import registry_dir
from rm_core.training.run import train_key
from tasks.cluster import ray_target
from tasks.concurrency import training_slot
from tasks.evaluation import check_for_changes
from tasks.failures import announce_failure
from tasks.training import check_learning_signal, prepare_model, sft_warm_start, train_judge

DEFAULT_CONFIG = "configs/pairwise_helpsteer2_sample.yaml"
DESCRIPTION = (
    "Train a pairwise judge with GRPO, evaluate its checkpoints in both answer orders, "
    "promote the best if it beats the champion (before the first promotion: the base "
    "model); every stage cached."
)


@flow(name="pairwise-train", description=DESCRIPTION, log_prints=True,
      on_cancellation=[stop_jobs_on_cancellation], on_failure=[announce_failure])
def pairwise_train(
    config_path: str = DEFAULT_CONFIG,
    max_steps: int | None = None,
    model_path: str | None = None,
    profile: str | None = None,
    ray_address: str | None = None,
    artifacts_dir: str | None = None,
    overrides: dict[str, Any] | None = None,
    force: bool = False,
) -> JudgeTrainResult:
    """run config -> verl data -> base model -> skip if unchanged -> learning signal ->
    GRPO on Ray -> evaluate the checkpoints and decide on promotion.

    `overrides` sets any config key (`{"evaluation.limit": 6}`); every stage gets the
    one config this resolves to."""
    config = load_run_config(config_path, "pairwise", RunSettings(
        max_steps=max_steps, model_path=model_path, profile=profile, ray_address=ray_address,
        artifacts_dir=artifacts_dir, overrides=overrides))
    root, spec, resources = config.artifacts_dir, config.training, config.ray.model_jobs
    verl = prepare_data(config_path, str(root), config)
    with ray_target(config.ray) as cluster:
        model = prepare_model(spec.model_path, root, cluster, resources)
        skipped = check_for_changes(registry_dir(config), train_key(verl, spec, model),
                                    config.evaluation, force)
        if skipped:
            return JudgeTrainResult(skipped=skipped)
        with training_slot(config) as busy:
            if busy:
                return JudgeTrainResult(skipped=busy)
            signal = check_learning_signal(model, verl, config.data, spec, root, cluster,
                                           resources)
            sft_warm_start(model, verl, config.data, spec, root, cluster, resources, signal)
            trained = train_judge(spec, verl, model, config.data, cluster, root,
                                  config.ray.job_timeout_s, resources)
        evaluation = evaluate_checkpoints(config_path, run_dir=str(trained.dir),
                                          val_path=str(verl.val_path), base_model=model,
                                          promote=True, artifacts_dir=str(root),
                                          config=config, cluster=cluster)
    return JudgeTrainResult(train=trained, evaluation=evaluation)


def main(argv: list[str] | None = None) -> int:
    return run_cli(pairwise_train, DEFAULT_CONFIG, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
