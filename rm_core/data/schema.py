"""DataSample: the one record type every stage reads and writes.

Close to RM-Gallery's DataSample: a conversation (`input`), the judged answers
(`output`, each with a `label` dict) and provenance. On disk it is an Arrow table
with nested columns, so stages can work on whole batches without per-row Python.
`label` is a struct (its fields are the label names of the dataset), `metadata`
free-form JSON text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

KNOWN_ROLES = ("system", "user", "assistant")
TaskCategory = Literal["pointwise", "pairwise"]
LabelValue = int | float | str

MESSAGE_TYPE = pa.struct([("role", pa.string()), ("content", pa.string())])


class ChatMessage(BaseModel):
    """One turn of the conversation the judged answer replies to."""

    model_config = ConfigDict(extra="forbid")
    role: str
    content: str


class Answer(BaseModel):
    """A judged answer and its human labels (e.g. {"helpfulness": 3})."""

    model_config = ConfigDict(extra="forbid")
    role: str = "assistant"
    content: str
    label: dict[str, LabelValue] = Field(default_factory=dict)


class DataSample(BaseModel):
    """A prompt with one (pointwise) or two (pairwise) labelled answers."""

    model_config = ConfigDict(extra="forbid")
    unique_id: str
    input: list[ChatMessage]
    output: list[Answer]
    source: str
    task_category: TaskCategory
    metadata: dict[str, Any] = Field(default_factory=dict)


def sample_schema(label_type: pa.StructType) -> pa.Schema:
    """The Arrow schema of a DataSample table whose labels have `label_type`."""
    answer = pa.struct(
        [("role", pa.string()), ("content", pa.string()), ("label", label_type)]
    )
    return pa.schema(
        [
            ("unique_id", pa.string()),
            ("input", pa.list_(MESSAGE_TYPE)),
            ("output", pa.list_(answer)),
            ("source", pa.string()),
            ("task_category", pa.string()),
            ("metadata", pa.string()),
        ]
    )


def label_type_of(samples: list[DataSample]) -> pa.StructType:
    """The label struct covering every label key used by `samples`, in first-seen order."""
    fields: dict[str, pa.DataType] = {}
    for sample in samples:
        for answer in sample.output:
            for key, value in answer.label.items():
                fields.setdefault(key, _arrow_type(value))
    return pa.struct(list(fields.items()))


def _arrow_type(value: LabelValue) -> pa.DataType:
    if isinstance(value, bool):
        raise TypeError(f"label values must be int, float or str, not bool ({value!r})")
    if isinstance(value, int):
        return pa.int64()
    if isinstance(value, float):
        return pa.float64()
    return pa.string()


def samples_to_table(samples: list[DataSample]) -> pa.Table:
    """Arrow table of `samples`; labels missing from an answer become nulls."""
    label_type = label_type_of(samples)
    keys = [field.name for field in label_type]
    rows = []
    for sample in samples:
        row = sample.model_dump()
        row["metadata"] = json.dumps(sample.metadata, sort_keys=True, ensure_ascii=False)
        for answer in row["output"]:
            answer["label"] = {key: answer["label"].get(key) for key in keys}
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=sample_schema(label_type))


def table_to_samples(table: pa.Table) -> list[DataSample]:
    """DataSamples of an Arrow table; null labels (absent keys) are dropped."""
    samples = []
    for row in table.to_pylist():
        row["metadata"] = json.loads(row["metadata"]) if row["metadata"] else {}
        for answer in row["output"]:
            answer["label"] = {k: v for k, v in answer["label"].items() if v is not None}
        samples.append(DataSample.model_validate(row))
    return samples


def write_samples(samples: list[DataSample], path: Path) -> None:
    """Write DataSamples to one parquet file."""
    pq.write_table(samples_to_table(samples), path)


def read_samples(path: Path) -> list[DataSample]:
    """Read DataSamples from a parquet file written by this module or a stage."""
    return table_to_samples(pq.read_table(path))
