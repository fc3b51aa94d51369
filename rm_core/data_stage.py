"""The data stage: fetched source -> validated DataSamples -> leak-free split -> verl rows.

Each step is a pure function of its inputs whose output directory is named by a hash
of those inputs, the relevant config and the code version (`rm_core.artifacts`). A step
whose output is complete returns the recorded result without touching a file; a missing
or damaged output is rebuilt. Rows stream in Arrow batches, so memory stays bounded.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel

from rm_core import split as splitting
from rm_core.artifacts import atomic_dir, finish, is_complete, read_result, stage_dir, stage_key
from rm_core.config import DataConfig
from rm_core.convert import get_converter
from rm_core.errors import DataQualityError
from rm_core.sources import RAW_COLUMN, ROW_COLUMN, FetchedSource, read_batches
from rm_core.templates import PairwiseTemplate, PointwiseTemplate
from rm_core.validate import ValidationReport, Validator, build_checks
from rm_core.verl_rows import verl_rows

Progress = Callable[[str], None]
# Buffered reads keep memory bounded by the batch, not by a file's row-group size.
READ_BUFFER = 1 << 20
QUARANTINE_SCHEMA = pa.schema(
    [(ROW_COLUMN, pa.int64()), ("reason", pa.string()), ("record", pa.string())]
)


def _quiet(message: str) -> None:
    """Default progress sink: say nothing."""


class IngestResult(BaseModel):
    """Validated samples and quarantined rows of one source."""

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
    """Train and val DataSample files."""

    key: str
    dir: Path
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
    sample_rows = 0
    with atomic_dir(out) as building:
        samples = quarantine = None
        try:
            for batch in read_batches(fetched, converter.kinds, config.source.columns,
                                      config.batch_rows):
                rows = batch.column(ROW_COLUMN).to_numpy()
                features = converter.features(batch)
                hashes = converter.pair_hash(batch)
                features["duplicate_of"] = _duplicates(hashes, rows, first_seen)
                reasons = validator.validate(features)
                bad = np.isin(rows, np.fromiter(reasons, dtype=np.int64, count=len(reasons)))
                converted = converter.to_samples(batch.filter(pa.array(~bad)), hashes[~bad])
                samples = samples or pq.ParquetWriter(building / "samples.parquet",
                                                      converted.schema)
                samples.write_table(converted)
                sample_rows += converted.num_rows
                quarantine = quarantine or pq.ParquetWriter(building / "quarantine.parquet",
                                                            QUARANTINE_SCHEMA)
                quarantine.write_table(_quarantined(batch.filter(pa.array(bad)), reasons,
                                                    converter.kinds))
                progress(
                    f"ingest: {validator.total_rows:,} rows read, "
                    f"{validator.bad_rows:,} quarantined"
                )
        finally:
            for writer in (samples, quarantine):
                if writer is not None:
                    writer.close()
        report = validator.report()
        result = IngestResult(
            key=key,
            dir=out,
            task_category=converter.task_category,
            source_rows=report.total_rows,
            sample_rows=sample_rows,
            quarantined_rows=report.bad_rows,
            report=report,
        )
        (building / "validation_report.json").write_text(report.model_dump_json(indent=2))
        finish(building, result.model_dump(mode="json"))
    return result


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
    duplicate_of = np.full(len(rows), np.nan)
    for position, (value, row) in enumerate(zip(hashes.tolist(), rows.tolist(), strict=True)):
        first = first_seen.setdefault(value, row)
        if first != row:
            duplicate_of[position] = first
    return duplicate_of


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
    groups, labels = _groups_and_labels(ingested, config)
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
        _write_split(ingested.samples_path, in_val, building, config.batch_rows)
        (building / "split_report.json").write_text(report.model_dump_json(indent=2))
        result = SplitResult(key=key, dir=out, report=report)
        finish(building, result.model_dump(mode="json"))
    progress(f"split: {report.train_rows:,} train / {report.val_rows:,} val samples")
    return result


def _groups_and_labels(ingested: IngestResult, config: DataConfig) -> tuple[np.ndarray, np.ndarray]:
    groups, labels = [], []
    # Only the labels of the answers: their texts are most of the file.
    for batch in pq.ParquetFile(ingested.samples_path, buffer_size=READ_BUFFER).iter_batches(
        batch_size=config.batch_rows, columns=["input", "output.list.element.label"]
    ):
        groups.append(splitting.prompt_groups(batch.column("input")))
        labels.append(
            splitting.strata(batch.column("output"), ingested.task_category, config.dimension)
        )
    if not groups:
        return np.array([], dtype=np.uint64), np.array([], dtype=object)
    return np.concatenate(groups), np.concatenate(labels)


def _write_split(samples_path: Path, in_val: np.ndarray, out: Path, batch_rows: int) -> None:
    parquet = pq.ParquetFile(samples_path, buffer_size=READ_BUFFER)
    writers = {
        name: pq.ParquetWriter(out / f"{name}.parquet", parquet.schema_arrow)
        for name in (splitting.TRAIN, splitting.VAL)
    }
    try:
        start = 0
        for batch in parquet.iter_batches(batch_size=batch_rows):
            mask = in_val[start : start + batch.num_rows]
            writers[splitting.VAL].write_batch(batch.filter(pa.array(mask)))
            writers[splitting.TRAIN].write_batch(batch.filter(pa.array(~mask)))
            start += batch.num_rows
    finally:
        for writer in writers.values():
            writer.close()


def template_for(config: DataConfig) -> PointwiseTemplate | PairwiseTemplate:
    """The judge template of the configured task: the one training and reward share."""
    if get_converter(config).task_category == "pairwise":
        return PairwiseTemplate()
    return PointwiseTemplate(
        dimension=config.dimension,
        max_score=config.max_score,
        answer_prefix=config.template.answer_prefix,
    )


def to_verl(
    split_result: SplitResult, config: DataConfig, root: Path, progress: Progress = _quiet
) -> VerlResult:
    """Render the train and val samples as verl parquet rows."""
    key = verl_key(split_result, config)
    out = stage_dir(root, "verl", key)
    if is_complete(out):
        return VerlResult.model_validate(read_result(out))
    template = template_for(config)
    counts = {}
    with atomic_dir(out) as building:
        for name, path in (("train", split_result.train_path), ("val", split_result.val_path)):
            counts[name] = _write_verl(path, building / f"{name}.parquet", name, template,
                                       config.batch_rows)
        result = VerlResult(key=key, dir=out, train_rows=counts["train"], val_rows=counts["val"])
        finish(building, result.model_dump(mode="json"))
    progress(f"verl rows: {counts['train']:,} train / {counts['val']:,} val")
    return result


def _write_verl(
    source: Path,
    target: Path,
    split_name: str,
    template: PointwiseTemplate | PairwiseTemplate,
    batch_rows: int,
) -> int:
    parquet = pq.ParquetFile(source, buffer_size=READ_BUFFER)
    written, writer = 0, None
    try:
        for batch in parquet.iter_batches(batch_size=batch_rows):
            rows = verl_rows(pa.Table.from_batches([batch]), split_name, template, written)
            writer = writer or pq.ParquetWriter(target, rows.schema)
            writer.write_table(rows)
            written += rows.num_rows
        if writer is None:
            empty = parquet.schema_arrow.empty_table()
            pq.write_table(verl_rows(empty, split_name, template), target)
    finally:
        if writer is not None:
            writer.close()
    return written
