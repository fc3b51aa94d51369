"""pairwise-train: the pointwise-train pipeline for a judge of preference pairs
(`<preference>A</preference>`), evaluated for accuracy, position bias and conflicts.

Run it with `python -m flows.pairwise_train [CONFIG] [--max-steps N] [--model PATH]
[--profile cpu|gpu] [--ray-address URL] [--artifacts-dir DIR] [--force]`.
"""

from __future__ import annotations

import sys

from prefect import flow

from flows.judge_training import (
    JudgeTrainResult,
    load_run_config,
    run_cli,
    stop_jobs_on_cancellation,
    train_and_evaluate,
)

DEFAULT_CONFIG = "configs/pairwise_helpsteer2_sample.yaml"


@flow(name="pairwise-train", log_prints=True, on_cancellation=[stop_jobs_on_cancellation])
def pairwise_train(
    config_path: str = DEFAULT_CONFIG,
    max_steps: int | None = None,
    model_path: str | None = None,
    profile: str | None = None,
    ray_address: str | None = None,
    artifacts_dir: str | None = None,
    force: bool = False,
) -> JudgeTrainResult:
    """Train a pairwise judge with GRPO, evaluate its checkpoints in both answer orders,
    promote the best if it beats the champion; every stage cached."""
    config = load_run_config(config_path, "pairwise", max_steps, model_path, profile,
                             ray_address, artifacts_dir)
    return train_and_evaluate(config_path, config, force)


def main(argv: list[str] | None = None) -> int:
    return run_cli(pairwise_train, DEFAULT_CONFIG, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
