"""The data stage: fetched source -> validated DataSamples -> leak-free split -> verl rows.

Each step is a pure function of its inputs whose output directory is named by a hash
of those inputs, the relevant config and the code version (`rm_core.artifacts`). A step
whose output is complete returns the recorded result without touching a file; a missing
or damaged output is rebuilt. Rows stream in Arrow batches, so memory stays bounded.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel

from rm_core.artifacts import atomic_dir, finish, is_complete, read_result, stage_dir, stage_key
from rm_core.config import DataConfig
from rm_core.data import split as splitting
from rm_core.data.convert import Converter, get_converter
from rm_core.data.convert.arrow_text import SLICE_ROWS
from rm_core.data.sources import RAW_COLUMN, ROW_COLUMN, FetchedSource, read_batches
from rm_core.data.validate import ValidationReport, Validator, build_checks
from rm_core.data.verl_rows import verl_rows
from rm_core.errors import DataQualityError
from rm_core.judge.templates import (
    MultiAttributeTemplate,
    PairwiseTemplate,
    PointwiseTemplate,
    Template,
)

Progress = Callable[[str], None]
# Buffered reads keep memory bounded by the batch, not by a file's row-group size.
READ_BUFFER = 1 << 20
QUARANTINE_SCHEMA = pa.schema(
    [(ROW_COLUMN, pa.int64()), ("reason", pa.string()), ("record", pa.string())]
)
GROUPS_SCHEMA = pa.schema([("group", pa.uint64())])
MEMBERS_SCHEMA = pa.schema([("sample_index", pa.int64()), ("unique_id", pa.string())])
# Files here are read whole: per-page statistics and dictionary attempts on unique texts
# cost CPU on every write and buy nothing.
WRITE_OPTIONS = {"write_statistics": False, "use_dictionary": False}
# The sample columns a verl row is rendered from (not `metadata`, nor the answers' roles).
VERL_INPUTS = ["unique_id", "input", "output.list.element.content", "output.list.element.label",
               "source", "task_category"]


def _quiet(message: str) -> None:
    """Default progress sink: say nothing."""


class IngestResult(BaseModel):
    """Validated samples, their prompt groups and the quarantined rows of one source."""

    key: str
    dir: Path
    task_category: str
    source_rows: int
    sample_rows: int
    quarantined_rows: int
    report: ValidationReport

    @property
    def samples_path(self) -> Path:
        return self.dir / "samples.parquet"

    @property
    def quarantine_path(self) -> Path:
        return self.dir / "quarantine.parquet"

    @property
    def groups_path(self) -> Path:
        """Per sample (same order), its prompt-group hash: the split never re-reads texts."""
        return self.dir / "prompt_groups.parquet"


class SplitReport(BaseModel):
    """Sizes of the split, per label, and the prompt overlap (always 0)."""

    train_rows: int
    val_rows: int
    train_prompts: int
    val_prompts: int
    shared_prompts: int
    label: str
    counts: dict[str, dict[str, int]]


class SplitResult(BaseModel):
    """Which samples of `samples` are in train and which in val.

    `train.parquet` and `val.parquet` list a split's samples as `sample_index` (row of
    `samples`) and `unique_id`; the samples themselves are read once, by `to_verl`.
    """

    key: str
    dir: Path
    samples: Path
    report: SplitReport

    @property
    def train_path(self) -> Path:
        return self.dir / "train.parquet"

    @property
    def val_path(self) -> Path:
        return self.dir / "val.parquet"


class VerlResult(BaseModel):
    """Train and val parquet files in verl's RL dataset schema."""

    key: str
    dir: Path
    train_rows: int
    val_rows: int

    @property
    def train_path(self) -> Path:
        return self.dir / "train.parquet"

    @property
    def val_path(self) -> Path:
        return self.dir / "val.parquet"


def ingest_key(fetched: FetchedSource, config: DataConfig) -> str:
    """Depends on the source content and on how rows are read, converted and validated."""
    return stage_key(
        "ingest",
        source=fetched.fingerprint,
        format=fetched.format,
        columns=config.source.columns,
        converter=config.converter,
        labels=config.labels,
        max_score=config.max_score,
        validation=config.validation.model_dump(),
    )


def split_key(ingested: IngestResult, config: DataConfig) -> str:
    """Depends on the samples and the split settings (and the stratified dimension)."""
    return stage_key(
        "split", samples=ingested.key, split=config.split.model_dump(), dimension=config.dimension
    )


def verl_key(split: SplitResult, config: DataConfig) -> str:
    """Depends on the split and on the template the prompts are rendered with."""
    return stage_key("verl", split=split.key, template=repr(template_for(config)))


def ingest(
    fetched: FetchedSource, config: DataConfig, root: Path, progress: Progress = _quiet
) -> IngestResult:
    """Validate and convert every source row: each becomes samples or a quarantined row."""
    key = ingest_key(fetched, config)
    out = stage_dir(root, "ingest", key)
    if is_complete(out):
        return IngestResult.model_validate(read_result(out))
    converter = get_converter(config)
    checks = build_checks(converter.task_category, config, converter.labels)
    validator = Validator(converter.task_category, checks, config.validation.max_bad_fraction)
    first_seen: dict[int, int] = {}
    with atomic_dir(out) as building:
        writers = {
            name: RowGroupWriter(building / f"{name}.parquet", config.batch_rows)
            for name in ("samples", "prompt_groups", "quarantine")
        }
        try:
            for batch in read_batches(fetched, converter.kinds, config.source.columns,
                                      config.batch_rows):
                _ingest_batch(batch, converter, validator, first_seen, writers)
                progress(
                    f"ingest: {validator.total_rows:,} rows read, "
                    f"{validator.bad_rows:,} quarantined"
                )
        finally:
            for writer in writers.values():
                writer.close()
        report = validator.report()
        result = IngestResult(
            key=key,
            dir=out,
            task_category=converter.task_category,
            source_rows=report.total_rows,
            sample_rows=writers["samples"].rows,
            quarantined_rows=report.bad_rows,
            report=report,
        )
        (building / "validation_report.json").write_text(report.model_dump_json(indent=2))
        finish(building, result.model_dump(mode="json"))
    return result


def _ingest_batch(
    batch: pa.Table,
    converter: Converter,
    validator: Validator,
    first_seen: dict[int, int],
    writers: dict[str, RowGroupWriter],
) -> None:
    """One great-expectations run over the whole batch; the rest works slice by slice."""
    pieces = [pa.Table.from_batches([piece])
              for piece in batch.to_batches(max_chunksize=SLICE_ROWS)]
    hashes = [converter.hashes(piece) for piece in pieces]
    features = pd.concat([converter.features(piece) for piece in pieces])
    rows = batch.column(ROW_COLUMN).to_numpy()
    pairs = np.concatenate([piece_hashes.pair for piece_hashes in hashes])
    features["duplicate_of"] = _duplicates(pairs, rows, first_seen)
    reasons = validator.validate(features)
    bad = np.isin(rows, np.fromiter(reasons, dtype=np.int64, count=len(reasons)))
    start = 0
    for piece, piece_hashes in zip(pieces, hashes, strict=True):
        good = ~bad[start : start + piece.num_rows]
        start += piece.num_rows
        samples = converter.to_samples(piece.filter(pa.array(good)), piece_hashes.pair[good])
        writers["samples"].append(samples)
        groups = np.repeat(piece_hashes.group[good], converter.samples_per_row)
        writers["prompt_groups"].append(pa.table([groups], schema=GROUPS_SCHEMA))
    quarantined = _quarantined(batch.filter(pa.array(bad)), reasons, converter.kinds)
    writers["quarantine"].append(quarantined)


def require_quality(result: IngestResult) -> None:
    """Raise DataQualityError when more rows failed than the config tolerates."""
    report = result.report
    if report.passed:
        return
    worst = sorted(report.expectations, key=lambda e: -e.unexpected_count)[:3]
    summary = "; ".join(f"{e.title}: {e.unexpected_count}" for e in worst if e.unexpected_count)
    raise DataQualityError(
        f"{report.bad_rows:,} of {report.total_rows:,} rows ({report.bad_fraction:.1%}) failed "
        f"validation, above data.validation.max_bad_fraction={report.max_bad_fraction:.1%} "
        f"({summary}). Every bad row and its reason is in {result.quarantine_path}"
    )


def _duplicates(hashes: np.ndarray, rows: np.ndarray, first_seen: dict[int, int]) -> np.ndarray:
    """Per row, the source row it duplicates (NaN for a first occurrence)."""
    # map() runs dict.setdefault over the batch in C: no Python-level loop per row.
    firsts = np.fromiter(map(first_seen.setdefault, hashes.tolist(), rows.tolist()),
                         dtype=np.int64, count=len(rows))
    return np.where(firsts == rows, np.nan, firsts)


def _quarantined(bad: pa.Table, reasons: dict[int, list[str]], kinds: dict[str, str]) -> pa.Table:
    """Bad rows with their reasons and their values as JSON, so nothing is lost."""
    rows = bad.column(ROW_COLUMN).to_pylist()
    raw = bad.column(RAW_COLUMN).to_pylist()
    values = bad.select(list(kinds)).to_pylist()
    records = [
        kept if kept is not None else json.dumps(value, ensure_ascii=False, default=str)
        for kept, value in zip(raw, values, strict=True)
    ]
    return pa.table(
        {
            ROW_COLUMN: pa.array(rows, type=pa.int64()),
            "reason": pa.array(["; ".join(reasons[row]) for row in rows], type=pa.string()),
            "record": pa.array(records, type=pa.string()),
        },
        schema=QUARANTINE_SCHEMA,
    )


def split(
    ingested: IngestResult, config: DataConfig, root: Path, progress: Progress = _quiet
) -> SplitResult:
    """Split samples into train and val by prompt group, stratified by label."""
    key = split_key(ingested, config)
    out = stage_dir(root, "split", key)
    if is_complete(out):
        return SplitResult.model_validate(read_result(out))
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
    with atomic_dir(out) as building:
        for name, members in ((splitting.TRAIN, ~in_val), (splitting.VAL, in_val)):
            _write_members(building / f"{name}.parquet", members, ids)
        (building / "split_report.json").write_text(report.model_dump_json(indent=2))
        result = SplitResult(key=key, dir=out, samples=ingested.samples_path, report=report)
        finish(building, result.model_dump(mode="json"))
    progress(f"split: {report.train_rows:,} train / {report.val_rows:,} val samples")
    return result


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


def to_verl(
    split_result: SplitResult, config: DataConfig, root: Path, progress: Progress = _quiet
) -> VerlResult:
    """Render the train and val samples as verl parquet rows, in one read of the samples."""
    key = verl_key(split_result, config)
    out = stage_dir(root, "verl", key)
    if is_complete(out):
        return VerlResult.model_validate(read_result(out))
    with atomic_dir(out) as building:
        counts = _write_verl(split_result, building, template_for(config), config.batch_rows)
        result = VerlResult(key=key, dir=out, train_rows=counts[splitting.TRAIN],
                            val_rows=counts[splitting.VAL])
        finish(building, result.model_dump(mode="json"))
    progress(f"verl rows: {result.train_rows:,} train / {result.val_rows:,} val")
    return result


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


class RowGroupWriter:
    """A parquet file appended to in slices and written in row groups of `group_rows` rows.

    Slices keep Arrow's buffers small enough for its allocator to recycle them (buffers of
    a whole 100k-row batch are fresh memory from the kernel on every batch); collecting
    them into whole row groups keeps the file as readers expect it.
    """

    def __init__(self, path: Path, group_rows: int) -> None:
        self.path = path
        self.group_rows = group_rows
        self.rows = 0
        self._pending: list[pa.Table] = []
        self._schema: pa.Schema | None = None
        self._writer: pq.ParquetWriter | None = None
        # Encoding and compressing a row group releases the GIL: one group is written on
        # this thread while the caller converts the next (at most one in flight).
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet-writer")
        self._in_flight: Future[None] | None = None

    def append(self, table: pa.Table) -> None:
        """Queue `table`; an empty one only fixes the schema of a file left empty."""
        self._schema = self._schema or table.schema
        if table.num_rows:
            self._pending.append(table)
            self.rows += table.num_rows
            if sum(piece.num_rows for piece in self._pending) >= self.group_rows:
                self._flush()

    def _flush(self) -> None:
        if self._pending:
            table = pa.concat_tables(self._pending)
            self._pending = []
            self._wait()
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.path, table.schema, **WRITE_OPTIONS)
            self._in_flight = self._io.submit(self._writer.write_table, table)

    def _wait(self) -> None:
        """Let the group in flight finish; its write error is raised here."""
        if self._in_flight is not None:
            in_flight, self._in_flight = self._in_flight, None
            in_flight.result()

    def close(self) -> None:
        """Write what is queued and close; a file that got no rows is written empty."""
        try:
            self._flush()
            self._wait()
            if self._writer is None and self._schema is not None:
                pq.write_table(self._schema.empty_table(), self.path, **WRITE_OPTIONS)
        finally:
            if self._in_flight is not None:
                self._in_flight.exception()  # never close the file under a running write
            self._io.shutdown(wait=True)
            if self._writer is not None:
                self._writer.close()
