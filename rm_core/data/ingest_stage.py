"""The ingest stage: a fetched source -> validated DataSamples, their prompt groups and the
quarantined rows, in one streaming pass over Arrow batches."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from rm_core.artifacts import stage_key
from rm_core.config import DataConfig
from rm_core.data.convert import Converter, get_converter
from rm_core.data.convert.arrow_text import SLICE_ROWS
from rm_core.data.sources import RAW_COLUMN, ROW_COLUMN, FetchedSource, read_batches
from rm_core.data.stage_io import (
    DataStage,
    OutputFile,
    Progress,
    RowGroupWriter,
    StageOutput,
)
from rm_core.data.validate import ValidationReport, Validator, build_checks
from rm_core.errors import DataQualityError

QUARANTINE_SCHEMA = pa.schema(
    [(ROW_COLUMN, pa.int64()), ("reason", pa.string()), ("record", pa.string())]
)
GROUPS_SCHEMA = pa.schema([("group", pa.uint64())])


class IngestResult(StageOutput):
    """Validated samples, their prompt groups and the quarantined rows of one source."""

    task_category: str
    source_rows: int
    sample_rows: int
    quarantined_rows: int
    report: ValidationReport

    samples_path = OutputFile("samples.parquet")
    quarantine_path = OutputFile("quarantine.parquet")
    # Per sample (same order), its prompt-group hash: the split never re-reads texts.
    groups_path = OutputFile("prompt_groups.parquet")


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


def _ingest(fetched: FetchedSource, config: DataConfig, key: str, progress: Progress,
            building: Path, out: Path) -> IngestResult:
    """Validate and convert every source row: each becomes samples or a quarantined row."""
    converter = get_converter(config)
    checks = build_checks(converter.task_category, config, converter.labels,
                          converter.sides)
    validator = Validator(converter.task_category, checks, config.validation.max_bad_fraction)
    first_seen: dict[int, int] = {}
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
    (building / "validation_report.json").write_text(report.model_dump_json(indent=2))
    return IngestResult(
        key=key,
        dir=out,
        task_category=converter.task_category,
        source_rows=report.total_rows,
        sample_rows=writers["samples"].rows,
        quarantined_rows=report.bad_rows,
        report=report,
    )


# ingest(fetched, config, root, progress): validated samples of the source.
ingest = DataStage("ingest", ingest_key, IngestResult, _ingest)


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
