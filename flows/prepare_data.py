"""prepare-data: source -> validated DataSamples -> leak-free split -> verl parquet.

Run it with `python -m flows.prepare_data [CONFIG] [--artifacts-dir DIR]`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from prefect import flow

from rm_core.config import REPO_ROOT, ExperimentConfig, load_experiment
from rm_core.data.stage import SplitResult, VerlResult
from rm_core.errors import RmPipelineError
from tasks.data import build_verl_rows, fetch_source, ingest_rows, split_samples
from tasks.lineage import file_asset, record_asset, source_asset

DEFAULT_CONFIG = "configs/pointwise_helpsteer2_sample.yaml"


def resolve_config(config_path: str) -> Path:
    """A relative config path is looked up in the working directory, then the repo."""
    path = Path(config_path)
    if path.is_absolute() or path.exists():
        return path
    return REPO_ROOT / path


@flow(name="prepare-data", log_prints=True)
def prepare_data(config_path: str = DEFAULT_CONFIG, artifacts_dir: str | None = None,
                 config: ExperimentConfig | None = None) -> VerlResult:
    """Turn the experiment's source into verl train/val parquet, every stage cached.

    A training flow passes its resolved `config` (overrides applied); run alone, the flow
    reads `config_path`."""
    config = config or load_experiment(resolve_config(config_path))
    root = Path(artifacts_dir).resolve() if artifacts_dir else config.artifacts_dir
    return data_stages(config, root)[1]


def data_stages(config: ExperimentConfig, root: Path) -> tuple[SplitResult, VerlResult]:
    """The cached data tasks, in the calling flow: the split (bt-train reads its samples)
    and the verl rows (every judge is evaluated on them)."""
    fetched = fetch_source(config.data.source, root)
    ingested = ingest_rows(fetched, config.data, root)
    split = split_samples(ingested, config.data, root)
    verl = build_verl_rows(split, config.data, root)
    record_asset(file_asset(verl.dir), "verl-dataset", [source_asset(fetched)],
                 {"source_sha256": fetched.fingerprint, "train_rows": verl.train_rows,
                  "val_rows": verl.val_rows})
    return split, verl


def main(argv: list[str] | None = None) -> int:
    """Command line entry: run the flow, print where the datasets are, no tracebacks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=DEFAULT_CONFIG)
    parser.add_argument("--artifacts-dir", default=None)
    args = parser.parse_args(argv)
    try:
        result = prepare_data(args.config, args.artifacts_dir)
    except RmPipelineError as exc:
        print(f"prepare-data failed: {exc}", file=sys.stderr)
        return 1
    print(f"verl train: {result.train_path} ({result.train_rows} rows)")
    print(f"verl val:   {result.val_path} ({result.val_rows} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
