"""pointwise-train: prepare data -> model ready -> learning signal -> GRPO on Ray ->
evaluate checkpoints -> promote or not.

Run it with `python -m flows.pointwise_train [CONFIG] [--max-steps N] [--model PATH]
[--profile cpu|gpu] [--ray-address URL] [--artifacts-dir DIR] [--force]`.
"""

from __future__ import annotations

import sys

from flows.judge_training import run_cli, training_flow

DEFAULT_CONFIG = "configs/pointwise_helpsteer2_sample.yaml"

pointwise_train = training_flow(
    "pointwise-train", "pointwise", DEFAULT_CONFIG,
    "Train a pointwise judge with GRPO, evaluate its checkpoints, promote the best if it "
    "beats the champion (before the first promotion: the base model); every stage cached. "
    "Skips training and evaluation when nothing changed since this judge was last trained "
    "and decided on, unless `force`.",
)


def main(argv: list[str] | None = None) -> int:
    return run_cli(pointwise_train, DEFAULT_CONFIG, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
