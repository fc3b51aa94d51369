"""What the data stages share: their cached outputs, the progress callback and buffered
parquet reads and writes."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict

from rm_core.artifacts import atomic_dir, finish, is_complete, read_result, stage_dir
from rm_core.config import DataConfig

Progress = Callable[[str], None]
# Buffered reads keep memory bounded by the batch, not by a file's row-group size.
READ_BUFFER = 1 << 20
# Files here are read whole: per-page statistics and dictionary attempts on unique texts
# cost CPU on every write and buy nothing.
WRITE_OPTIONS = {"write_statistics": False, "use_dictionary": False}


def quiet(message: str) -> None:
    """Default progress sink: say nothing."""


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


class OutputFile:
    """A file of a stage output, read as `result.<name>` -> `result.dir / file name`: each
    result declares its files once."""

    def __init__(self, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, output: None, owner: type[Any]) -> OutputFile: ...

    @overload
    def __get__(self, output: StageOutput, owner: type[Any]) -> Path: ...

    def __get__(self, output: StageOutput | None, owner: type[Any]) -> OutputFile | Path:
        return self if output is None else output.dir / self.name


class StageOutput(BaseModel):
    """What a stage recorded about its output: the key it is stored under and its directory."""

    model_config = ConfigDict(ignored_types=(OutputFile,))

    key: str
    dir: Path


Given = TypeVar("Given")
Output = TypeVar("Output", bound=StageOutput)


@dataclass(frozen=True)
class DataStage(Generic[Given, Output]):
    """A data stage, called as `stage(given, config, root, progress)`: the result recorded
    in its complete output, without touching a file, else the one `build` records.

    The output lives under `root/<name>/<key(given, config)>`. `build(given, config, key,
    progress, building, out)` writes its files into `building`, a temporary directory
    that becomes `out` once the result is recorded (`rm_core.artifacts.atomic_dir`).
    """

    name: str
    key: Callable[[Given, DataConfig], str]
    output: type[Output]
    build: Callable[[Given, DataConfig, str, Progress, Path, Path], Output]

    def plan(self, given: Given, config: DataConfig, root: Path) -> tuple[str, Path]:
        """The key of the output for `given` and its directory."""
        key = self.key(given, config)
        return key, stage_dir(root, self.name, key)

    def __call__(self, given: Given, config: DataConfig, root: Path,
                 progress: Progress = quiet) -> Output:
        key, out = self.plan(given, config, root)
        if is_complete(out):
            return self.output.model_validate(read_result(out))
        with atomic_dir(out) as building:
            result = self.build(given, config, key, progress, building, out)
            finish(building, result.model_dump(mode="json"))
        return result


class TrainValFiles(StageOutput):
    """A stage output holding `train.parquet` and `val.parquet` in its directory."""

    train_path = OutputFile("train.parquet")
    val_path = OutputFile("val.parquet")
