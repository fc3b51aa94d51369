"""Where rows come from: the embedded sample, local parquet/json/jsonl, a Hugging Face dataset.

`fetch` pins a source to immutable content (a local file and its hash, or a snapshot
of a hub dataset written to parquet) and `read_batches` streams it in Arrow batches
with the columns renamed to the converter's canonical names and coerced to their types.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import shutil
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict

from rm_core.artifacts import atomic_dir, finish, is_complete, read_result
from rm_core.config import SourceConfig
from rm_core.data.coerce import Kind, coerce_column
from rm_core.data.convert.arrow_text import SLICE_ROWS
from rm_core.errors import SourceError, SourceUnavailable

FORMATS = {".parquet": "parquet", ".pq": "parquet", ".json": "json", ".jsonl": "jsonl"}
ROW_COLUMN = "source_row"
ERROR_COLUMN = "_error"
RAW_COLUMN = "_raw"


class FetchedSource(BaseModel):
    """A source pinned to content: the file to read and the hash of what it holds."""

    model_config = ConfigDict(frozen=True)
    path: Path
    format: str
    fingerprint: str
    origin: str


def fetch_key(source: SourceConfig) -> str | None:
    """A key that changes whenever the fetched content may change; None: always fetch."""
    if source.kind == "huggingface":
        if source.revision is None:
            return None
        return _digest(source.model_dump_json())
    path = source.local_path()
    if not path.is_file():
        return None
    stat = path.stat()
    return _digest(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{source.format}")


def fetch(source: SourceConfig, root: Path) -> FetchedSource:
    """Pin `source` to content; hub datasets are snapshotted under `root`/fetch/<hash>."""
    if source.kind == "huggingface":
        return _fetch_hub(source, root)
    path = source.local_path()
    if not path.exists():
        raise SourceError(f"source file not found: {path}")
    if not path.is_file():
        raise SourceError(f"source path is not a file: {path}")
    return FetchedSource(
        path=path.resolve(),
        format=detect_format(path, source.format),
        fingerprint=file_sha256(path),
        origin=f"{source.kind}:{path}",
    )


def hub_snapshot_dir(source: SourceConfig, root: Path) -> Path | None:
    """Where a pinned hub dataset is snapshotted; None when unpinned (named by content)."""
    key = fetch_key(source)
    return root / "fetch" / key if source.kind == "huggingface" and key else None


def _fetch_hub(source: SourceConfig, root: Path) -> FetchedSource:
    pinned = hub_snapshot_dir(source, root)
    if pinned is not None and is_complete(pinned):
        return FetchedSource.model_validate(read_result(pinned))
    import datasets

    origin = f"huggingface:{source.name}/{source.data_dir or ''}@{source.revision or 'main'}"
    try:
        dataset = datasets.load_dataset(
            source.name, data_dir=source.data_dir, split=source.split, revision=source.revision
        )
    except Exception as exc:
        raise hub_failure(source, exc) from exc
    staging = root / "fetch" / ".download"
    staging.mkdir(parents=True, exist_ok=True)
    snapshot = staging / f"{_digest(origin)}-{uuid.uuid4().hex[:8]}.parquet"
    try:
        dataset.to_parquet(str(snapshot))
        fingerprint = file_sha256(snapshot)
        target = pinned or root / "fetch" / fingerprint
        fetched = FetchedSource(
            path=target / "data.parquet", format="parquet", fingerprint=fingerprint, origin=origin
        )
        if not is_complete(target):
            with atomic_dir(target) as building:
                shutil.move(str(snapshot), building / "data.parquet")
                finish(building, fetched.model_dump(mode="json"))
    finally:
        snapshot.unlink(missing_ok=True)
    return fetched


# Errors (module, name; skipped when not installed) meaning the hub was not reached or timed
# out. LocalEntryNotFoundError: a file that could be neither downloaded nor found cached.
NETWORK_ERRORS = (("requests", "ConnectionError"), ("requests", "Timeout"),
                  ("httpx", "TransportError"),
                  ("huggingface_hub.errors", "LocalEntryNotFoundError"))
# The hub answered: no such repository (or no access to it), revision or file.
NOT_FOUND_ERRORS = (("huggingface_hub.errors", "RepositoryNotFoundError"),
                    ("huggingface_hub.errors", "RevisionNotFoundError"),
                    ("huggingface_hub.errors", "EntryNotFoundError"))


def hub_failure(source: SourceConfig, exc: Exception) -> SourceError:
    """Why a hub dataset did not load, as an error worth retrying (SourceUnavailable) only
    when waiting can help: a name, revision or split that does not exist fails at once."""
    what = (f"dataset {source.name!r} (revision={source.revision or 'main'!r}, "
            f"data_dir={source.data_dir!r}, split={source.split!r})")
    network = (ConnectionError, TimeoutError, *_types(NETWORK_ERRORS))
    if any(isinstance(error, network) or _server_busy(error) for error in _chain(exc)):
        return SourceUnavailable(f"cannot reach the Hugging Face Hub for {what}: {exc}")
    missing = (FileNotFoundError, *_types(NOT_FOUND_ERRORS))
    if isinstance(exc, missing) or isinstance(exc.__cause__, missing):
        return SourceError(
            f"Hugging Face {what} not found: {exc}. Expected data.source.name to be a "
            "dataset on the Hub (owner/name; signed in for a gated or private one) or a "
            "local dataset folder, with that revision and data_dir"
        )
    if isinstance(exc, ValueError):
        return SourceError(f"Hugging Face {what} does not load as configured: {exc}")
    return SourceUnavailable(f"cannot load Hugging Face {what}: {exc}")


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and the exceptions it was raised from or while handling (libraries wrap
    network errors in their own)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _types(names: tuple[tuple[str, str], ...]) -> tuple[type[BaseException], ...]:
    found = []
    for module, name in names:
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def _server_busy(error: BaseException) -> bool:
    """An HTTP error with a server error or rate limit status (5xx, 429)."""
    status = getattr(getattr(error, "response", None), "status_code", None)
    return isinstance(status, int) and (status >= 500 or status == 429)


def detect_format(path: Path, declared: str = "auto") -> str:
    """The file format, declared or from the file extension."""
    if declared != "auto":
        return declared
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise SourceError(
            f"unknown format of {path}: extension {path.suffix or '(none)'!r}; "
            f"expected one of {sorted(FORMATS)} or set source.format"
        )
    return fmt


def read_batches(
    fetched: FetchedSource,
    kinds: Mapping[str, Kind],
    columns: Mapping[str, str],
    batch_rows: int,
) -> Iterator[pa.Table]:
    """Batches with canonical columns (`kinds`), `source_row`, `_error` and `_raw`.

    `columns` maps a canonical name to the source's own column name where they differ.
    Raises SourceError for a file that cannot be read, lacks columns or has no rows.
    """
    wanted = {name: columns.get(name, name) for name in kinds}
    if fetched.format == "parquet":
        raw_batches = _parquet_batches(fetched.path, wanted, batch_rows)
    elif fetched.format in ("json", "jsonl"):
        raw_batches = _json_batches(fetched.path, fetched.format, wanted, batch_rows)
    else:
        raise SourceError(f"unknown format {fetched.format!r} for {fetched.path}")
    total = 0
    for first_row, values, row_errors, lines in raw_batches:
        yield _coerce_batch(fetched.path, first_row, values, row_errors, lines, kinds, wanted)
        total += len(row_errors)
    if total == 0:
        raise SourceError(f"source {fetched.path} has no rows")


# (first row, column values, row errors, raw text of lines that did not parse)
RawBatch = tuple[int, dict[str, Any], list[str | None], list[str | None]]


class Unparsable(str):
    """The text of a source line that is not valid JSON (kept for the quarantine)."""


def _parquet_batches(path: Path, wanted: Mapping[str, str], batch_rows: int) -> Iterator[RawBatch]:
    try:
        # Buffered reads: without a buffer pyarrow holds whole column chunks (a 1M-row
        # row group of responses is ~700 MB) for as long as the file is read.
        parquet = pq.ParquetFile(path, buffer_size=1 << 20)
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(f"{path} is not a readable parquet file: {exc}") from exc
    _require_columns(path, wanted, parquet.schema_arrow.names)
    # Read in slices, gathered into batches of chunked columns: slices' buffers are small
    # enough for the allocator to recycle, a whole batch's are fresh memory every time.
    slices = parquet.iter_batches(batch_size=min(SLICE_ROWS, batch_rows),
                                  columns=list(wanted.values()))
    first_row = 0
    for group in _regroup(slices, batch_rows):
        rows = sum(piece.num_rows for piece in group)
        values = {
            name: pa.chunked_array([piece.column(source) for piece in group])
            for name, source in wanted.items()
        }
        yield first_row, values, [None] * rows, [None] * rows
        first_row += rows


def _regroup(slices: Iterator[pa.RecordBatch], rows: int) -> Iterator[list[pa.RecordBatch]]:
    """Consecutive record batches cut and gathered into groups of `rows` rows (the last
    group may be shorter); every cut is a zero-copy slice."""
    group: list[pa.RecordBatch] = []
    size = 0
    for piece in slices:
        while piece.num_rows:
            take = min(rows - size, piece.num_rows)
            group.append(piece.slice(0, take))
            size += take
            piece = piece.slice(take)
            if size == rows:
                yield group
                group, size = [], 0
    if group:
        yield group


def _json_batches(
    path: Path, fmt: str, wanted: Mapping[str, str], batch_rows: int
) -> Iterator[RawBatch]:
    records = _jsonl_records(path) if fmt == "jsonl" else _json_records(path)
    seen_columns: set[str] = set()
    first_row, values, errors, lines = 0, {name: [] for name in wanted}, [], []
    for record, error in records:
        if isinstance(record, dict):
            seen_columns.update(record)
        elif error is None:
            error = f"row is a JSON {type(record).__name__}, expected an object"
        for name, source in wanted.items():
            values[name].append(record.get(source) if isinstance(record, dict) else None)
        errors.append(error)
        lines.append(_as_written(record))
        if len(errors) == batch_rows:
            _require_columns(path, wanted, seen_columns)
            yield first_row, values, errors, lines
            first_row += len(errors)
            values, errors, lines = {n: [] for n in wanted}, [], []
    if errors:
        _require_columns(path, wanted, seen_columns)
        yield first_row, values, errors, lines


def _as_written(record: Any) -> str | None:
    """The raw text kept for a row that is not a JSON object (unparsable, a list, a
    number...): its quarantine record must show what was there."""
    if isinstance(record, Unparsable):
        return str(record)
    return None if isinstance(record, dict) else json.dumps(record, ensure_ascii=False)


def _jsonl_records(path: Path) -> Iterator[tuple[Any, str | None]]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line.decode("utf-8")), None
            except UnicodeDecodeError as exc:
                text = Unparsable(line.decode("utf-8", errors="backslashreplace"))
                yield text, f"line {number} is not valid UTF-8 (byte {exc.start})"
            except json.JSONDecodeError as exc:
                text = Unparsable(line.decode("utf-8").rstrip("\r\n"))
                yield text, f"line {number} is not valid JSON: {exc.msg}"


def _json_records(path: Path) -> Iterator[tuple[Any, str | None]]:
    try:
        document = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(f"{path} is not a valid JSON document: {exc}") from exc
    if not isinstance(document, list):
        raise SourceError(f"{path} must hold a JSON array of row objects")
    for record in document:
        yield record, None


def _require_columns(path: Path, wanted: Mapping[str, str], found: Any) -> None:
    missing = [
        f"{source!r}" + (f" (for {name!r})" if source != name else "")
        for name, source in wanted.items()
        if source not in found
    ]
    if missing:
        raise SourceError(
            f"{path} lacks column(s) {', '.join(missing)}; found: {sorted(found)}. "
            "Map differently named columns with source.columns."
        )


def _coerce_batch(
    path: Path,
    first_row: int,
    values: dict[str, Any],
    row_errors: list[str | None],
    lines: list[str | None],
    kinds: Mapping[str, Kind],
    wanted: Mapping[str, str],
) -> pa.Table:
    arrays: dict[str, pa.Array] = {}
    errors = list(row_errors)
    for name, kind in kinds.items():
        array, column_errors = coerce_column(name, values[name], kind)
        # Judged on the first batch only: a short last batch whose few labels are all
        # bad holds bad rows (quarantined), not a wrongly mapped column.
        if kind == "number" and first_row == 0:
            _require_numeric(path, wanted[name], first_row, values[name], array)
        arrays[name] = array
        if any(column_errors):
            errors = [_join(a, b) for a, b in zip(errors, column_errors, strict=True)]
    rows = pa.array(np.arange(first_row, first_row + len(errors), dtype=np.int64))
    raw: list[str | None] = [None] * len(errors)
    if any(errors):
        raw = [
            line if line is not None else None if error is None else _raw_record(values, i)
            for i, (error, line) in enumerate(zip(errors, lines, strict=True))
        ]
    return pa.table(
        {
            **arrays,
            ROW_COLUMN: rows,
            ERROR_COLUMN: pa.array(errors, type=pa.string()),
            RAW_COLUMN: pa.array(raw, type=pa.string()),
        }
    )


def _require_numeric(path: Path, column: str, first_row: int, raw: Any, coerced: Any) -> None:
    """A label column with values but not one number is a wrong mapping, not bad rows."""
    arrow = isinstance(raw, pa.Array | pa.ChunkedArray)
    present = len(raw) - (raw.null_count if arrow else raw.count(None))
    if present and coerced.null_count == len(coerced):
        values = raw.to_pylist() if arrow else raw
        position, value = next((i, v) for i, v in enumerate(values) if v is not None)
        raise SourceError(
            f"{path}: label column {column!r} is not numeric "
            f"(row {first_row + position} holds {value!r}); expected numbers such as 0..4"
        )


def _raw_record(values: dict[str, Any], position: int) -> str:
    record = {}
    for name, column in values.items():
        value = column[position]
        record[name] = value.as_py() if isinstance(value, pa.Scalar) else value
    return json.dumps(record, ensure_ascii=False, default=repr)


def _join(first: str | None, second: str | None) -> str | None:
    if first is None or second is None:
        return first or second
    return f"{first}; {second}"


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (read into one reused buffer, not a new one per chunk)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
