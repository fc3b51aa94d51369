"""The verl stage: the split's samples -> train and val parquet files in verl's RL dataset
schema, prompts rendered with the configured judge template."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from rm_core.artifacts import stage_key
from rm_core.config import DataConfig
from rm_core.data import split as splitting
from rm_core.data.convert import get_converter
from rm_core.data.convert.arrow_text import SLICE_ROWS
from rm_core.data.split_stage import SplitResult
from rm_core.data.stage_io import (
    READ_BUFFER,
    DataStage,
    Progress,
    RowGroupWriter,
    TrainValFiles,
)
from rm_core.data.verl_rows import verl_rows
from rm_core.judge.templates import (
    MultiAttributeTemplate,
    PairwiseTemplate,
    PointwiseTemplate,
    Template,
)

# The sample columns a verl row is rendered from (not `metadata`, nor the answers' roles).
VERL_INPUTS = ["unique_id", "input", "output.list.element.content", "output.list.element.label",
               "source", "task_category"]


class VerlResult(TrainValFiles):
    """Train and val parquet files in verl's RL dataset schema."""

    train_rows: int
    val_rows: int


def verl_key(split: SplitResult, config: DataConfig) -> str:
    """Depends on the split and on the template the prompts are rendered with."""
    return stage_key("verl", split=split.key, template=repr(template_for(config)))


def template_for(config: DataConfig) -> Template:
    """The judge template of the configured task: the one training, reward and evaluation
    share (pairwise; several dimensions at once; or one dimension)."""
    prefix = config.template.answer_prefix
    if get_converter(config).task_category == "pairwise":
        return PairwiseTemplate(allow_tie=config.ties == "keep", answer_prefix=prefix)
    if config.dimensions:
        return MultiAttributeTemplate(config.dimensions, config.max_score, prefix)
    return PointwiseTemplate(dimension=config.dimension, max_score=config.max_score,
                             answer_prefix=prefix)


def judge_kind(config: DataConfig) -> Literal["pointwise", "pairwise"]:
    """Pairwise when the converter yields preference pairs, else pointwise (one or more
    scored dimensions)."""
    return "pairwise" if isinstance(template_for(config), PairwiseTemplate) else "pointwise"


def _to_verl(split_result: SplitResult, config: DataConfig, key: str, progress: Progress,
             building: Path, out: Path) -> VerlResult:
    """Render the train and val samples as verl parquet rows, in one read of the samples."""
    counts = _write_verl(split_result, building, template_for(config), config.batch_rows)
    result = VerlResult(key=key, dir=out, train_rows=counts[splitting.TRAIN],
                        val_rows=counts[splitting.VAL])
    progress(f"verl rows: {result.train_rows:,} train / {result.val_rows:,} val")
    return result


# to_verl(split, config, root, progress): the verl train and val files of the split.
to_verl = DataStage("verl", verl_key, VerlResult, _to_verl)


def _val_mask(split_result: SplitResult, sample_rows: int) -> np.ndarray:
    """Per row of the samples file, whether the split put it in val."""
    in_val = np.zeros(sample_rows, dtype=bool)
    in_val[pq.read_table(split_result.val_path).column("sample_index").to_numpy()] = True
    return in_val


def _write_verl(
    split_result: SplitResult,
    out: Path,
    template: Template,
    batch_rows: int,
) -> dict[str, int]:
    """Each slice of samples rendered and appended to the verl file of its split."""
    parquet = pq.ParquetFile(split_result.samples, buffer_size=READ_BUFFER)
    in_val = _val_mask(split_result, parquet.metadata.num_rows)
    empty = parquet.schema_arrow.empty_table()
    writers = {
        name: RowGroupWriter(out / f"{name}.parquet", batch_rows)
        for name in (splitting.TRAIN, splitting.VAL)
    }
    try:
        for name, writer in writers.items():
            writer.append(verl_rows(empty, name, template))
        start = 0
        for batch in parquet.iter_batches(batch_size=SLICE_ROWS, columns=VERL_INPUTS):
            table = pa.Table.from_batches([batch])
            mask = in_val[start : start + batch.num_rows]
            start += batch.num_rows
            for (name, writer), members in zip(writers.items(), (~mask, mask), strict=True):
                writer.append(
                    verl_rows(table.filter(pa.array(members)), name, template, writer.rows)
                )
    finally:
        for writer in writers.values():
            writer.close()
    return {name: writer.rows for name, writer in writers.items()}
