"""pointwise-train: prepare data -> model ready -> learning signal -> GRPO on Ray ->
evaluate checkpoints -> promote or not.

Run it with `python -m flows.pointwise_train [CONFIG] [--max-steps N] [--model PATH]
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

DEFAULT_CONFIG = "configs/pointwise_helpsteer2_sample.yaml"


@flow(name="pointwise-train", log_prints=True, on_cancellation=[stop_jobs_on_cancellation])
def pointwise_train(
    config_path: str = DEFAULT_CONFIG,
    max_steps: int | None = None,
    model_path: str | None = None,
    profile: str | None = None,
    ray_address: str | None = None,
    artifacts_dir: str | None = None,
    force: bool = False,
) -> JudgeTrainResult:
    """Train a pointwise judge with GRPO, evaluate its checkpoints, promote the best if it
    beats the champion; every stage cached. Skips training and evaluation when nothing
    changed since the champion was trained, unless `force`."""
    config = load_run_config(config_path, "pointwise", max_steps, model_path, profile,
                             ray_address, artifacts_dir)
    return train_and_evaluate(config_path, config, force)


def main(argv: list[str] | None = None) -> int:
    return run_cli(pointwise_train, DEFAULT_CONFIG, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
