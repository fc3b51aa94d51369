"""What the data stages share: the progress callback and buffered parquet reads and writes."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel

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


class TrainValFiles(BaseModel):
    """A stage output holding `train.parquet` and `val.parquet` in its directory."""

    key: str
    dir: Path

    @property
    def train_path(self) -> Path:
        return self.dir / "train.parquet"

    @property
    def val_path(self) -> Path:
        return self.dir / "val.parquet"
