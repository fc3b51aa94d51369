"""Vectorised text helpers over Arrow arrays shared by converters, split and verl rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rm_core.schema import KNOWN_ROLES


def text_chars(texts: pa.Array) -> np.ndarray:
    """Length in characters of each text without surrounding whitespace, 0 for null."""
    lengths = pc.utf8_length(pc.utf8_trim_whitespace(texts))
    return pc.fill_null(lengths, 0).to_numpy(zero_copy_only=False)


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


def _offsets(messages: pa.Array) -> pa.Array:
    lengths = pc.fill_null(pc.list_value_length(messages), 0).to_numpy(zero_copy_only=False)
    return pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))


def normalize(texts: pa.Array) -> pa.Array:
    """Lower-case, whitespace collapsed and trimmed: the identity of a prompt."""
    return pc.utf8_trim_whitespace(_collapse_whitespace(pc.utf8_lower(texts)))


def _collapse_whitespace(texts: pa.Array) -> pa.Array:
    r"""`replace_substring_regex(texts, r"\s+", " ")`, computed on the UTF-8 bytes with numpy.

    Arrow's regex replacement runs at some 40 MB/s; this gives the same array several
    times faster. Types other than a (large) string array take the regex.
    """
    if not isinstance(texts, pa.Array) or texts.type not in (pa.string(), pa.large_string()):
        return pc.replace_substring_regex(texts, r"\s+", " ")
    offset_type = np.int32 if texts.type == pa.string() else np.int64
    _, offsets_buffer, data_buffer = texts.buffers()
    if data_buffer is None:
        return texts
    offsets = np.frombuffer(offsets_buffer, dtype=offset_type)
    offsets = offsets[texts.offset : texts.offset + len(texts) + 1].astype(np.int64)
    data = np.frombuffer(data_buffer, dtype=np.uint8)[offsets[0] : offsets[-1]]
    offsets -= offsets[0]
    # RE2's \s is [\t\n\f\r ] (bytes 9, 10, 12, 13, 32), never inside a multi-byte character.
    space = ((data >= 9) & (data <= 13) & (data != 11)) | (data == 32)
    spaced = np.where(space, np.uint8(32), data)
    # A space right after a space of the same text is dropped: runs never span two texts.
    drop = np.zeros(len(spaced), dtype=bool)
    np.logical_and(space[1:], space[:-1], out=drop[1:])
    drop[offsets[:-1][offsets[:-1] < len(spaced)]] = False
    dropped = np.flatnonzero(drop)
    new_offsets = offsets - np.searchsorted(dropped, offsets)
    validity = pc.is_valid(texts).buffers()[1] if texts.null_count else None
    return pa.Array.from_buffers(
        texts.type,
        len(texts),
        [validity, pa.py_buffer(new_offsets.astype(offset_type)),
         pa.py_buffer(np.delete(spaced, dropped) if len(dropped) else spaced)],
        null_count=texts.null_count,
    )


def hash_texts(*columns: pa.Array) -> np.ndarray:
    """Deterministic uint64 hash of each row of one or more text columns."""
    # Plain object columns (no conversion to pandas' string dtype) hash the same Python
    # strings. Factorising each column first (pandas' default) only changes how nulls
    # hash; without nulls the hashes are the same and skipping it is several times faster.
    frame = pd.DataFrame(
        {str(i): col.to_numpy(zero_copy_only=False) for i, col in enumerate(columns)},
        dtype=object,
    )
    categorize = any(col.null_count for col in columns)
    return pd.util.hash_pandas_object(frame, index=False, categorize=categorize).to_numpy()


def pairwise_winner(first_label: pa.Array) -> pa.Array:
    """"A", "B" or "tie": the position of the better answer, from the first answer's label."""
    preference = pc.struct_field(first_label, "preference")
    return pc.case_when(
        pc.make_struct(pc.equal(preference, "chosen"), pc.equal(preference, "rejected")),
        "A",
        "B",
        "tie",
    )
