"""Turn source columns of any type into the types converters expect, row errors kept.

A column already of the right Arrow type passes through vectorised; anything else
is converted value by value, and a value that cannot be converted becomes null with an
error naming the column and the value, so the row is quarantined instead of crashing
the stage.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rm_core.data.schema import MESSAGE_TYPE

Kind = Literal["text", "messages", "number"]
ARROW_TYPES: dict[Kind, pa.DataType] = {
    "text": pa.string(),
    "messages": pa.list_(MESSAGE_TYPE),
    "number": pa.float64(),
}


def coerce_column(
    name: str, values: pa.Array | pa.ChunkedArray | Sequence[Any], kind: Kind
) -> tuple[pa.Array | pa.ChunkedArray, list[str | None]]:
    """`values` as the Arrow type of `kind`, and one error (or None) per row."""
    fast = _vectorised(values, kind)
    if fast is not None:
        return fast, [None] * len(fast)
    if isinstance(values, pa.ChunkedArray | pa.Array):
        values = values.to_pylist()
    converted, errors = [], []
    for value in values:
        try:
            converted.append(_CONVERTERS[kind](value))
            errors.append(None)
        except (TypeError, ValueError) as exc:
            converted.append(None)
            errors.append(f"{name}: {exc}")
    return pa.array(converted, type=ARROW_TYPES[kind]), errors


def _vectorised(
    values: pa.Array | pa.ChunkedArray | Sequence[Any], kind: Kind
) -> pa.Array | pa.ChunkedArray | None:
    """Arrow columns of a usable type, converted chunk by chunk (never copied into one)."""
    if not isinstance(values, pa.Array | pa.ChunkedArray):
        return None
    vtype = values.type
    if kind == "text" and (pa.types.is_string(vtype) or pa.types.is_large_string(vtype)):
        return values.cast(pa.string())
    if kind == "number" and (pa.types.is_integer(vtype) or pa.types.is_floating(vtype)):
        floats = values.cast(pa.float64())
        return pc.if_else(pc.is_nan(floats), pa.scalar(None, pa.float64()), floats)
    if kind == "messages" and (pa.types.is_string(vtype) or pa.types.is_large_string(vtype)):
        texts = values.cast(pa.string())
        if isinstance(texts, pa.ChunkedArray):
            return pa.chunked_array([user_messages(chunk) for chunk in texts.chunks],
                                    type=ARROW_TYPES[kind])
        return user_messages(texts)
    return None


def user_messages(texts: pa.Array) -> pa.Array:
    """One single-turn user conversation per text (null text -> null conversation)."""
    roles = pa.repeat(pa.scalar("user", pa.string()), len(texts))
    structs = pa.StructArray.from_arrays([roles, texts], fields=list(MESSAGE_TYPE))
    offsets = pa.array(np.arange(len(texts) + 1, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, structs, mask=texts.is_null())


def _to_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"is not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    if isinstance(value, str):
        return value
    raise TypeError(f"expected text, got {type(value).__name__} {_short(value)}")


def _to_number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"expected a number, got a boolean {value!r}")
    if isinstance(value, int | float):
        return None if math.isnan(value) else float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError(f"expected a number, got text {_short(value)}") from None
        return None if math.isnan(number) else number
    raise TypeError(f"expected a number, got {type(value).__name__} {_short(value)}")


def _to_messages(value: Any) -> list[dict[str, str]] | None:
    if value is None or isinstance(value, str | bytes):
        text = _to_text(value)
        return None if text is None else [{"role": "user", "content": text}]
    if not isinstance(value, list | tuple):
        raise TypeError(f"expected text or a list of messages, got {type(value).__name__}")
    messages = []
    for position, message in enumerate(value):
        if not isinstance(message, dict) or {"role", "content"} - message.keys():
            raise ValueError(f"message {position} must be an object with 'role' and 'content'")
        role, content = _to_text(message["role"]), _to_text(message["content"])
        messages.append({"role": role or "", "content": content or ""})
    return messages


_CONVERTERS = {"text": _to_text, "number": _to_number, "messages": _to_messages}


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."
