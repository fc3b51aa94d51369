"""pairwise-train: the pointwise-train pipeline for a judge of preference pairs
(`<preference>A</preference>`), evaluated for accuracy, position bias and conflicts.

Run it with `python -m flows.pairwise_train [CONFIG] [--max-steps N] [--model PATH]
[--profile cpu|gpu] [--ray-address URL] [--artifacts-dir DIR] [--force]`.
"""

from __future__ import annotations

import sys

from flows.judge_training import run_cli, training_flow

DEFAULT_CONFIG = "configs/pairwise_helpsteer2_sample.yaml"

pairwise_train = training_flow(
    "pairwise-train", "pairwise", DEFAULT_CONFIG,
    "Train a pairwise judge with GRPO, evaluate its checkpoints in both answer orders, "
    "promote the best if it beats the champion (before the first promotion: the base "
    "model); every stage cached.",
)


def main(argv: list[str] | None = None) -> int:
    return run_cli(pairwise_train, DEFAULT_CONFIG, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
