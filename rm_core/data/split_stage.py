"""The split stage: validated samples -> train and val members, by prompt group and
stratified by label, so no prompt is in both."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel

from rm_core.artifacts import stage_key
from rm_core.config import DataConfig
from rm_core.data import split as splitting
from rm_core.data.ingest_stage import IngestResult
from rm_core.data.stage_io import READ_BUFFER, DataStage, Progress, TrainValFiles

MEMBERS_SCHEMA = pa.schema([("sample_index", pa.int64()), ("unique_id", pa.string())])


class SplitReport(BaseModel):
    """Sizes of the split, per label, and the prompt overlap (always 0)."""

    train_rows: int
    val_rows: int
    train_prompts: int
    val_prompts: int
    shared_prompts: int
    label: str
    counts: dict[str, dict[str, int]]


class SplitResult(TrainValFiles):
    """Which samples of `samples` are in train and which in val.

    `train.parquet` and `val.parquet` list a split's samples as `sample_index` (row of
    `samples`) and `unique_id`; the samples themselves are read once, by `to_verl`.
    """

    samples: Path
    report: SplitReport


def split_key(ingested: IngestResult, config: DataConfig) -> str:
    """Depends on the samples and the split settings (and the stratified dimension)."""
    return stage_key(
        "split", samples=ingested.key, split=config.split.model_dump(), dimension=config.dimension
    )


def _split(ingested: IngestResult, config: DataConfig, key: str, progress: Progress,
           building: Path, out: Path) -> SplitResult:
    """Split samples into train and val by prompt group, stratified by label."""
    groups = pq.read_table(ingested.groups_path).column("group").to_numpy()
    labels, ids = _labels_and_ids(ingested, config)
    in_val = splitting.assign(groups, labels, config.split.val_fraction, config.split.seed)
    report = SplitReport(
        train_rows=int((~in_val).sum()),
        val_rows=int(in_val.sum()),
        train_prompts=len(np.unique(groups[~in_val])),
        val_prompts=len(np.unique(groups[in_val])),
        shared_prompts=len(np.intersect1d(groups[~in_val], groups[in_val])),
        label=config.dimension if ingested.task_category == "pointwise" else "winner",
        counts=splitting.label_counts(labels, in_val),
    )
    for name, members in ((splitting.TRAIN, ~in_val), (splitting.VAL, in_val)):
        _write_members(building / f"{name}.parquet", members, ids)
    (building / "split_report.json").write_text(report.model_dump_json(indent=2))
    progress(f"split: {report.train_rows:,} train / {report.val_rows:,} val samples")
    return SplitResult(key=key, dir=out, samples=ingested.samples_path, report=report)


# split(ingested, config, root, progress): train and val members of the samples.
split = DataStage("split", split_key, SplitResult, _split)


def _labels_and_ids(
    ingested: IngestResult, config: DataConfig
) -> tuple[splitting.Labels, pa.ChunkedArray]:
    """Each sample's stratum and unique_id; only the answers' labels, not their texts."""
    table = pq.ParquetFile(ingested.samples_path, buffer_size=READ_BUFFER).read(
        columns=["unique_id", "output.list.element.label"]
    )
    strata = [
        splitting.strata(chunk, ingested.task_category, config.dimension)
        for chunk in table.column("output").chunks
    ]
    # One conversion to a pandas string array: the split's frames then take it as it is.
    labels = pa.chunked_array(strata, type=pa.string()).to_pandas().array
    return labels, table.column("unique_id")


def _write_members(path: Path, members: np.ndarray, ids: pa.ChunkedArray) -> None:
    """One split's samples: their rows in the samples file and their ids."""
    pq.write_table(
        pa.table([np.flatnonzero(members), ids.filter(pa.array(members))], schema=MEMBERS_SCHEMA),
        path,
    )
