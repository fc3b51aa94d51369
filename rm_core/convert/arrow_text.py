"""Vectorised text helpers over Arrow arrays shared by converters, split and verl rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rm_core.schema import KNOWN_ROLES


def text_chars(texts: pa.Array) -> np.ndarray:
    """Length in characters of each text, 0 for null."""
    return pc.fill_null(pc.utf8_length(texts), 0).to_numpy(zero_copy_only=False)


def conversation_chars(messages: pa.Array) -> np.ndarray:
    """Total characters of the message contents of each conversation, 0 for null."""
    contents = pc.struct_field(pc.list_flatten(messages), "content")
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
    collapsed = pc.replace_substring_regex(pc.utf8_lower(texts), r"\s+", " ")
    return pc.utf8_trim_whitespace(collapsed)


def hash_texts(*columns: pa.Array) -> np.ndarray:
    """Deterministic uint64 hash of each row of one or more text columns."""
    frame = pd.DataFrame(
        {str(i): col.to_numpy(zero_copy_only=False) for i, col in enumerate(columns)}
    )
    return pd.util.hash_pandas_object(frame, index=False).to_numpy()


def pairwise_winner(first_label: pa.Array) -> pa.Array:
    """"A", "B" or "tie": the position of the better answer, from the first answer's label."""
    preference = pc.struct_field(first_label, "preference")
    return pc.case_when(
        pc.make_struct(pc.equal(preference, "chosen"), pc.equal(preference, "rejected")),
        "A",
        "B",
        "tie",
    )
