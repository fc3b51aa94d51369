"""What several benchmarks need: the sample's verl val parquet and a model folder, and the
options that choose them."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rm_core.config import ExperimentConfig, load_experiment

REPO_ROOT = Path(__file__).resolve().parents[1]


def add_val_and_model_options(parser: argparse.ArgumentParser, artifacts_dir: str) -> None:
    """--val, --config, --artifacts-dir (for the data stage), --model and --model-cache: what
    `val_parquet` and `model_folder` take."""
    parser.add_argument("--val", help="verl val parquet (default: run the data stage)")
    parser.add_argument("--config", default="configs/pointwise_helpsteer2_sample.yaml")
    parser.add_argument("--artifacts-dir", default=artifacts_dir)
    parser.add_argument("--model", choices=("smollm2", "tiny"), default="smollm2")
    parser.add_argument("--model-cache", default=os.environ.get(
        "RM_PIPELINE_MODEL_CACHE", str(Path.home() / ".cache/rm-pipeline/models")))


def val_parquet(given: str | None, config_path: str, artifacts_dir: Path
                ) -> tuple[Path, ExperimentConfig]:
    """The given val parquet, or the one the data stage (no Prefect) writes for the config."""
    config = load_experiment(REPO_ROOT / config_path)
    if given:
        return Path(given), config
    from rm_core.data import stage as data_stage
    from rm_core.data.sources import fetch

    ingested = data_stage.ingest(fetch(config.data.source, artifacts_dir), config.data,
                                 artifacts_dir)
    split = data_stage.split(ingested, config.data, artifacts_dir)
    return data_stage.to_verl(split, config.data, artifacts_dir).val_path, config


def model_folder(name: str, cache: Path, seed: int = 0) -> Path:
    """SmolLM2-135M-Instruct from the offline wheel, or the tiny random Qwen2."""
    from rm_core.embedded_models import build_tiny_qwen2, smollm2_hf

    return smollm2_hf(cache) if name == "smollm2" else build_tiny_qwen2(cache / "tiny-qwen2",
                                                                         seed=seed)
