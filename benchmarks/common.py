"""What several benchmarks need: the sample's verl val parquet and a model folder."""

from __future__ import annotations

from pathlib import Path

from rm_core.config import ExperimentConfig, load_experiment

REPO_ROOT = Path(__file__).resolve().parents[1]


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
