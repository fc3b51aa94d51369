"""A tiny GRPO run: settings and run paths shared by the tests that train for real."""

from __future__ import annotations

from pathlib import Path

from rm_core.config import DataConfig
from rm_core.training import run
from rm_core.training.spec import TrainSpec

TINY_GRPO = {
    "rollout_n": 2,
    "train_batch_size": 4,
    "ppo_mini_batch_size": 4,
    "micro_batch_size_per_gpu": 4,
    "max_prompt_length": 2048,
    "max_response_length": 16,
    "total_training_steps": 2,
}


# The `training` section of a flow test's config: the tiny model, 2 steps, no W&B.
TINY_TRAINING = {"profile": "cpu", "model_path": "tiny-qwen2", "grpo": TINY_GRPO,
                 "save_freq": 1, "test_freq": -1, "val_before_train": False,
                 "wandb": {"enabled": False}}


def tiny_spec(**changes: object) -> TrainSpec:
    settings = {key: value for key, value in TINY_TRAINING.items()
                if key not in ("profile", "model_path")}
    return TrainSpec(**{**settings, **changes})


def start(spec: TrainSpec, workspace: dict, name: str) -> tuple[Path, run.RunPaths]:
    """The output folder and run paths of a run called `name` in the workspace."""
    out = workspace["root"] / name
    data: DataConfig = workspace["data"]
    paths = run.run_paths(spec, workspace["verl"], workspace["model"], out, data)
    return out, paths
