"""Vectorised text helpers over Arrow arrays shared by converters, split and verl rows."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rm_core.data.schema import KNOWN_ROLES

# Rows per slice for the per-row text work: a slice's temporaries stay in the CPU cache,
# while whole-batch ones (tens of MB) are fresh memory, page-faulted in on every call.
SLICE_ROWS = 8192


def by_slices(function: Callable[[pa.Array], np.ndarray], array: pa.Array) -> np.ndarray:
    """`function` applied to consecutive row slices of `array`, results concatenated."""
    if len(array) <= SLICE_ROWS:
        return function(array)
    return np.concatenate(
        [function(array.slice(start, SLICE_ROWS)) for start in range(0, len(array), SLICE_ROWS)]
    )


def repeat_text(text: str, count: int) -> pa.Array:
    """`count` times `text` as a string array, without a Python list of `count` items."""
    return pa.repeat(pa.scalar(text, pa.string()), count)


def contiguous(column: pa.ChunkedArray) -> pa.Array:
    """A column as one array; a lone chunk as is (`combine_chunks` would copy it)."""
    return column.chunks[0] if column.num_chunks == 1 else column.combine_chunks()


def text_chars(texts: pa.Array) -> np.ndarray:
    """Length in characters of each text without surrounding whitespace, 0 for null."""
    return by_slices(_text_chars, texts)


def _text_chars(texts: pa.Array) -> np.ndarray:
    lengths = pc.fill_null(pc.utf8_length(pc.utf8_trim_whitespace(texts)), 0)
    # int64: great-expectations checks int64 columns vectorised, int32 ones row by row.
    return lengths.to_numpy(zero_copy_only=False).astype(np.int64)


def conversation_chars(messages: pa.Array) -> np.ndarray:
    """Total characters of the message contents of each conversation, 0 for null."""
    contents = pc.utf8_trim_whitespace(pc.struct_field(pc.list_flatten(messages), "content"))
    lengths = pc.fill_null(pc.utf8_length(contents), 0).to_numpy(zero_copy_only=False)
    parents = pc.list_parent_indices(messages).to_numpy(zero_copy_only=False)
    return np.bincount(parents, weights=lengths, minlength=len(messages)).astype(np.int64)


def first_unknown_role(messages: pa.Array) -> np.ndarray:
    """Per conversation, its first role outside KNOWN_ROLES, else "user" (object array)."""
    roles = pc.fill_null(pc.struct_field(pc.list_flatten(messages), "role"), "")
    unknown = pc.invert(pc.is_in(roles, value_set=pa.array(KNOWN_ROLES))).to_numpy(
        zero_copy_only=False
    )
    result = np.full(len(messages), "user", dtype=object)
    if unknown.any():
        parents = pc.list_parent_indices(messages).to_numpy(zero_copy_only=False)
        bad_roles = roles.to_numpy(zero_copy_only=False)
        for parent, role in zip(parents[unknown][::-1], bad_roles[unknown][::-1], strict=True):
            result[parent] = role
    return result


def conversation_text(messages: pa.Array) -> pa.Array:
    """Each conversation as one text: a lone message is its content, else "Role: content"."""
    if one_each(messages):
        # The common case needs no joining: the contents are the texts, as they are.
        return pc.fill_null(pc.struct_field(pc.list_flatten(messages), "content"), "")
    flat = pc.list_flatten(messages)
    contents = pc.fill_null(pc.struct_field(flat, "content"), "")
    lengths = pc.fill_null(pc.list_value_length(messages), 0).to_numpy(zero_copy_only=False)
    parents = pc.list_parent_indices(messages).to_numpy(zero_copy_only=False)
    multi_turn = pa.array(lengths[parents] > 1)
    roles = pc.fill_null(pc.struct_field(flat, "role"), "")
    prefix = pc.binary_join_element_wise(pc.utf8_capitalize(roles), ": ", "")
    texts = pc.if_else(multi_turn, pc.binary_join_element_wise(prefix, contents, ""), contents)
    offsets = pc.fill_null(_offsets(messages), 0)
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, texts), "\n\n")
    return pc.fill_null(joined, "")


def one_each(lists: pa.Array) -> bool:
    """True when every list holds exactly one element (none is null)."""
    return lists.null_count == 0 and bool(pc.all(pc.equal(pc.list_value_length(lists), 1)).as_py())


def _offsets(messages: pa.Array) -> pa.Array:
    lengths = pc.fill_null(pc.list_value_length(messages), 0).to_numpy(zero_copy_only=False)
    return pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))


def normalize(texts: pa.Array) -> pa.Array:
    """Lower-case, whitespace collapsed and trimmed: the identity of a prompt."""
    return pc.utf8_trim_whitespace(_collapse_whitespace(_lower(texts)))


def _lower(texts: pa.Array) -> pa.Array:
    """`utf8_lower`; all-ASCII texts take `ascii_lower`, the same result several times faster."""
    view = _utf8_bytes(texts)
    if view is not None and (not len(view[1]) or view[1].max() < 128):
        return pc.ascii_lower(texts)
    return pc.utf8_lower(texts)


def _utf8_bytes(texts: pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """Offsets (from 0, int64) and UTF-8 bytes of a (large) string array; else None."""
    if not isinstance(texts, pa.Array) or texts.type not in (pa.string(), pa.large_string()):
        return None
    offset_type = np.int32 if texts.type == pa.string() else np.int64
    _, offsets_buffer, data_buffer = texts.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=offset_type)
    offsets = offsets[texts.offset : texts.offset + len(texts) + 1].astype(np.int64)
    if data_buffer is None:
        return offsets - offsets[0], np.zeros(0, dtype=np.uint8)
    data = np.frombuffer(data_buffer, dtype=np.uint8)[offsets[0] : offsets[-1]]
    return offsets - offsets[0], data


def _collapse_whitespace(texts: pa.Array) -> pa.Array:
    r"""`replace_substring_regex(texts, r"\s+", " ")`, computed on the UTF-8 bytes with numpy.

    Arrow's regex replacement runs at some 40 MB/s; this gives the same array several
    times faster. Types other than a (large) string array take the regex.
    """
    view = _utf8_bytes(texts)
    if view is None:
        return pc.replace_substring_regex(texts, r"\s+", " ")
    offsets, data = view
    if not len(data):
        return texts
    # RE2's \s is [\t\n\f\r ] (bytes 9, 10, 12, 13, 32), never inside a multi-byte character.
    space = (data == 32) | ((data <= 13) & (data >= 9) & (data != 11))
    # A space right after a space of the same text is dropped: runs never span two texts.
    drop = np.zeros(len(data), dtype=bool)
    np.logical_and(space[1:], space[:-1], out=drop[1:])
    drop[offsets[:-1][offsets[:-1] < len(data)]] = False
    # Every whitespace byte is below 32: the maximum with 32 turns exactly those into spaces.
    collapsed = np.maximum(data, space.view(np.uint8) * np.uint8(32))
    dropped = np.flatnonzero(drop)
    if len(dropped):
        offsets -= np.searchsorted(dropped, offsets)
        collapsed = collapsed[~drop]
    offset_type = np.int32 if texts.type == pa.string() else np.int64
    validity = pc.is_valid(texts).buffers()[1] if texts.null_count else None
    return pa.Array.from_buffers(
        texts.type,
        len(texts),
        [validity, pa.py_buffer(offsets.astype(offset_type)), pa.py_buffer(collapsed)],
        null_count=texts.null_count,
    )


def text_hashes(texts: pa.Array) -> np.ndarray:
    """pandas' uint64 hash of each text: `hash_pandas_object`'s hash of one column.

    The texts are hashed as UTF-8 bytes, which pandas hashes exactly as the `str` they
    decode to, without building and re-encoding a Python string per row. Factorising
    first (pandas' default) only changes how nulls hash, so it is kept only with nulls.
    """
    return by_slices(_text_hashes, texts)


def _text_hashes(texts: pa.Array) -> np.ndarray:
    values = pc.cast(texts, pa.large_binary() if _is_large(texts) else pa.binary())
    return pd.util.hash_array(
        values.to_numpy(zero_copy_only=False), categorize=bool(texts.null_count)
    )


def _is_large(texts: pa.Array) -> bool:
    return pa.types.is_large_string(texts.type) or pa.types.is_large_binary(texts.type)


def combine_hashes(*hashes: np.ndarray) -> np.ndarray:
    """The row hash of columns hashed by `text_hashes`, as `hash_pandas_object` of a frame
    (pandas' `combine_hash_arrays`): one text hash serves several row identities."""
    mult = np.uint64(1000003)
    out = np.full(len(hashes[0]), 0x345678, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for position, column in enumerate(hashes):
            inverse = len(hashes) - position
            out ^= column
            out *= mult
            mult += np.uint64(82520 + inverse + inverse)
        out += np.uint64(97531)
    return out


def prompt_hashes(messages: pa.Array) -> np.ndarray:
    """`text_hashes` of each conversation's normalised text (case and whitespace)."""
    return by_slices(lambda part: _text_hashes(normalize(conversation_text(part))), messages)


_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_NIBBLE_SHIFTS = np.arange(60, -4, -4, dtype=np.uint64)


def hex_ids(prefix: str, hashes: np.ndarray, suffix: str = "") -> pa.Array:
    """`f"{prefix}{h:016x}{suffix}"` of each uint64 hash, built without per-row Python."""
    digits = _HEX_DIGITS[(hashes.astype(np.uint64)[:, None] >> _NIBBLE_SHIFTS) & np.uint64(15)]
    offsets = np.arange(0, 16 * len(hashes) + 1, 16, dtype=np.int32)
    hexes = pa.Array.from_buffers(
        pa.string(), len(hashes), [None, pa.py_buffer(offsets), pa.py_buffer(digits.tobytes())]
    )
    return pc.binary_join_element_wise(prefix, hexes, suffix, "")


def pairwise_winner(first_label: pa.Array) -> pa.Array:
    """"A", "B" or "tie": the position of the better answer, from the first answer's label."""
    preference = pc.struct_field(first_label, "preference")
    return pc.case_when(
        pc.make_struct(pc.equal(preference, "chosen"), pc.equal(preference, "rejected")),
        "A",
        "B",
        "tie",
    )
