"""The HelpSteer2 family: pointwise rows (prompt, response, five 0-4 attributes) and
preference rows (prompt, response_1, response_2, preference_strength -3..3).

Pointwise keeps every configured attribute as a label; the trained dimension is chosen
later, by the template. Pairwise turns each preference row into two samples, one per
answer order, so position bias can be trained away and measured.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rm_core.config import DataConfig
from rm_core.data.coerce import Kind
from rm_core.data.convert import RowHashes, register
from rm_core.data.convert.arrow_text import (
    combine_hashes,
    contiguous,
    conversation_chars,
    first_unknown_role,
    hex_ids,
    prompt_hashes,
    repeat_text,
    text_chars,
    text_hashes,
)
from rm_core.data.schema import sample_schema
from rm_core.data.sources import ERROR_COLUMN, ROW_COLUMN

SOURCE = "helpsteer2"


def column(batch: pa.Table, name: str) -> pa.Array:
    """A column of `batch` as one contiguous Arrow array."""
    return contiguous(batch.column(name))


def common_features(batch: pa.Table) -> dict[str, object]:
    """Features every HelpSteer2 suite checks: prompt size, roles, conversion errors."""
    prompt = column(batch, "prompt")
    return {
        "prompt_chars": conversation_chars(prompt),
        "role": first_unknown_role(prompt),
        "row_error": column(batch, ERROR_COLUMN).to_numpy(zero_copy_only=False),
    }


def side_chars(texts: pa.Array) -> np.ndarray:
    """Characters of each response (see `text_chars`), NaN where it is missing: a missing
    side is its own reason, not a 0-character one."""
    chars = text_chars(texts).astype(np.float64)
    chars[pc.is_null(texts).to_numpy(zero_copy_only=False)] = np.nan
    return chars


def identical(first: pa.Array, second: pa.Array) -> np.ndarray:
    """1.0 where both responses are the same non-empty text (surrounding whitespace
    aside), NaN elsewhere: such a pair prefers nothing."""
    same = pc.equal(pc.utf8_trim_whitespace(first), pc.utf8_trim_whitespace(second))
    both = pc.and_(same, pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(first)), 0))
    return np.where(pc.fill_null(both, False).to_numpy(zero_copy_only=False), 1.0, np.nan)


def row_hashes(batch: pa.Table, responses: tuple[str, ...]) -> RowHashes:
    """Each text hashed once; the group and pair hashes are combinations of those."""
    prompt = prompt_hashes(column(batch, "prompt"))
    answers = [text_hashes(pc.fill_null(column(batch, name), "")) for name in responses]
    return RowHashes(group=combine_hashes(prompt), pair=combine_hashes(prompt, *answers))


def answer(role_count: int, content: pa.Array, label: pa.StructArray) -> pa.StructArray:
    """Struct array of answers (assistant role, content, label)."""
    roles = repeat_text("assistant", role_count)
    return pa.StructArray.from_arrays([roles, content, label], names=["role", "content", "label"])


def metadata(rows: pa.Array, extra: str = "") -> pa.Array:
    """JSON metadata recording the source row of each sample."""
    return pc.binary_join_element_wise(
        '{"source_row": ', pc.cast(rows, pa.string()), f"{extra}}}", ""
    )


def sample_table(
    unique_ids: pa.Array, prompt: pa.Array, answers: pa.ListArray, task: str, meta: pa.Array,
    source: str = SOURCE,
) -> pa.Table:
    """Assemble a DataSample table from its columns."""
    count = len(unique_ids)
    label_type = answers.type.value_type.field("label").type
    return pa.Table.from_arrays(
        [
            unique_ids,
            prompt,
            answers,
            repeat_text(source, count),
            repeat_text(task, count),
            meta,
        ],
        schema=sample_schema(label_type),
    )


class PointwiseConverter:
    """One sample per row: the response with all of its attribute labels."""

    task_category = "pointwise"
    samples_per_row = 1
    sides = ("response",)

    def __init__(self, config: DataConfig) -> None:
        self.labels = tuple(config.labels)
        self.kinds: dict[str, Kind] = {"prompt": "messages", "response": "text"}
        self.kinds.update(dict.fromkeys(self.labels, "number"))

    def features(self, batch: pa.Table) -> pd.DataFrame:
        features = common_features(batch)
        features["response_chars"] = text_chars(column(batch, "response"))
        for label in self.labels:
            features[label] = column(batch, label).to_numpy(zero_copy_only=False)
        return pd.DataFrame(features, index=column(batch, ROW_COLUMN).to_numpy())

    def hashes(self, batch: pa.Table) -> RowHashes:
        return row_hashes(batch, ("response",))

    def to_samples(self, batch: pa.Table, pair_hashes: np.ndarray | None = None) -> pa.Table:
        count = batch.num_rows
        labels = pa.StructArray.from_arrays(
            [pc.cast(column(batch, name), pa.int64()) for name in self.labels],
            names=list(self.labels),
        )
        answers = pa.ListArray.from_arrays(
            pa.array(np.arange(count + 1), type=pa.int32()),
            answer(count, column(batch, "response"), labels),
        )
        hashes = self.hashes(batch).pair if pair_hashes is None else pair_hashes
        ids = hex_ids(f"{SOURCE}-", hashes)
        meta = metadata(column(batch, ROW_COLUMN))
        return sample_table(ids, column(batch, "prompt"), answers, "pointwise", meta)


class PairwiseConverter:
    """Two samples per preference row, (response_1, response_2) and the reverse order."""

    task_category = "pairwise"
    labels = ("preference", "strength")
    samples_per_row = 2
    source = SOURCE
    sides = ("response_1", "response_2")

    def __init__(self, config: DataConfig) -> None:
        self.kinds: dict[str, Kind] = {
            "prompt": "messages",
            "response_1": "text",
            "response_2": "text",
            "preference_strength": "number",
        }

    def features(self, batch: pa.Table) -> pd.DataFrame:
        features = common_features(batch)
        first, second = column(batch, "response_1"), column(batch, "response_2")
        features["response_1_chars"] = side_chars(first)
        features["response_2_chars"] = side_chars(second)
        features["identical_sides"] = identical(first, second)
        features["preference_strength"] = column(batch, "preference_strength").to_numpy(
            zero_copy_only=False
        )
        return pd.DataFrame(features, index=column(batch, ROW_COLUMN).to_numpy())

    def hashes(self, batch: pa.Table) -> RowHashes:
        return row_hashes(batch, ("response_1", "response_2"))

    def to_samples(self, batch: pa.Table, pair_hashes: np.ndarray | None = None) -> pa.Table:
        strength = pc.cast(column(batch, "preference_strength"), pa.int64())
        pairs = self.hashes(batch).pair if pair_hashes is None else pair_hashes
        first, second = column(batch, "response_1"), column(batch, "response_2")
        rows, prompt = column(batch, ROW_COLUMN), column(batch, "prompt")
        forward = self._orders(pairs, "ab", prompt, first, second, strength, rows)
        backward = self._orders(pairs, "ba", prompt, second, first, pc.negate(strength), rows)
        interleave = np.arange(2 * batch.num_rows).reshape(2, -1).T.ravel()
        return pa.concat_tables([forward, backward]).take(pa.array(interleave))

    def _orders(
        self,
        pairs: np.ndarray,
        order: str,
        prompt: pa.Array,
        a: pa.Array,
        b: pa.Array,
        strength: pa.Array,
        rows: pa.Array,
    ) -> pa.Table:
        """Samples answering (a, b); negative strength means `a` is better."""
        count = len(pairs)
        sign = pc.sign(strength)
        magnitude = pc.abs(strength)
        a_pref = pc.case_when(
            pc.make_struct(pc.less(sign, 0), pc.greater(sign, 0)),
            "chosen",
            "rejected",
            "tie",
        )
        b_pref = pc.case_when(
            pc.make_struct(pc.less(sign, 0), pc.greater(sign, 0)),
            "rejected",
            "chosen",
            "tie",
        )
        label = [
            pa.StructArray.from_arrays([pref, magnitude], names=list(self.labels))
            for pref in (a_pref, b_pref)
        ]
        answers_flat = pa.concat_arrays([answer(count, a, label[0]), answer(count, b, label[1])])
        interleave = np.arange(2 * count).reshape(2, -1).T.ravel()
        answers = pa.ListArray.from_arrays(
            pa.array(np.arange(0, 2 * count + 1, 2), type=pa.int32()),
            answers_flat.take(pa.array(interleave)),
        )
        ids = hex_ids(f"{self.source}-", pairs, f"-{order}")
        meta = metadata(rows, f', "order": "{order}"')
        return sample_table(ids, prompt, answers, "pairwise", meta, self.source)


@register("helpsteer2_pointwise")
def helpsteer2_pointwise(config: DataConfig) -> PointwiseConverter:
    """HelpSteer2 attribute rows -> pointwise samples."""
    return PointwiseConverter(config)


@register("helpsteer2_pairwise")
def helpsteer2_pairwise(config: DataConfig) -> PairwiseConverter:
    """HelpSteer2 preference rows -> pairwise samples in both answer orders."""
    return PairwiseConverter(config)
