"""HelpSteer2 converters and the converter registry."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rm_core.config import HELPSTEER2_ATTRIBUTES, DataConfig, SourceConfig
from rm_core.data import convert
from rm_core.data import stage as data_stage
from rm_core.data.convert import arrow_text, get_converter, register
from rm_core.data.convert.helpsteer2 import PointwiseConverter
from rm_core.data.schema import MESSAGE_TYPE, DataSample, read_samples, table_to_samples
from rm_core.data.sources import fetch, read_batches
from rm_core.errors import ConfigError


def _convert(path: Path, converter_name: str, batch_rows: int = 100) -> list[DataSample]:
    config = DataConfig(source=SourceConfig(kind="local", path=path), converter=converter_name)
    converter = get_converter(config)
    fetched = fetch(config.source, path.parent)
    tables = [converter.to_samples(batch)
              for batch in read_batches(fetched, converter.kinds, {}, batch_rows)]
    return table_to_samples(pa.concat_tables(tables))


def test_pointwise_keeps_all_five_labels_as_ints(
    write_rows: Callable[..., Path], make_pointwise_row: Callable[..., dict[str, Any]]
) -> None:
    """Every HelpSteer2 attribute becomes an int label; prompt and response are kept."""
    rows = [make_pointwise_row(i) for i in range(4)]
    rows[2]["prompt"] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Multi-turn question"},
    ]
    samples = _convert(write_rows("pointwise.jsonl", rows), "helpsteer2_pointwise")
    assert len(samples) == 4
    for sample, row in zip(samples, rows, strict=True):
        assert sample.task_category == "pointwise"
        assert sample.source == "helpsteer2"
        assert len(sample.output) == 1
        answer = sample.output[0]
        assert answer.role == "assistant"
        assert answer.content == row["response"]
        assert list(answer.label) == list(HELPSTEER2_ATTRIBUTES)
        assert answer.label == {name: row[name] for name in HELPSTEER2_ATTRIBUTES}
        assert all(type(value) is int for value in answer.label.values())
    assert samples[0].input[0].model_dump() == {"role": "user", "content": rows[0]["prompt"]}
    assert [m.model_dump() for m in samples[2].input] == rows[2]["prompt"]
    assert [s.metadata["source_row"] for s in samples] == [0, 1, 2, 3]


def test_pointwise_reads_message_list_prompts_from_parquet(
    write_rows: Callable[..., Path], make_pointwise_row: Callable[..., dict[str, Any]]
) -> None:
    """A parquet list<struct<role, content>> prompt column becomes the sample's input."""
    conversation = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Sort [3, 1]?"},
    ]
    rows = [make_pointwise_row(i, prompt=conversation[: i + 1]) for i in range(4)]
    samples = _convert(write_rows("turns.parquet", rows), "helpsteer2_pointwise")
    assert [[m.model_dump() for m in s.input] for s in samples] == [r["prompt"] for r in rows]


def test_pointwise_ids_are_unique_and_stable(
    write_rows: Callable[..., Path], make_pointwise_row: Callable[..., dict[str, Any]]
) -> None:
    """Ids depend on the content only: not on batch size, file format or row order."""
    rows = [make_pointwise_row(i) for i in range(6)]
    ids = [s.unique_id for s in _convert(write_rows("a.jsonl", rows), "helpsteer2_pointwise")]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("helpsteer2-") for i in ids)
    again = _convert(write_rows("b.parquet", rows), "helpsteer2_pointwise", batch_rows=4)
    assert [s.unique_id for s in again] == ids
    reversed_ids = [
        s.unique_id
        for s in _convert(write_rows("c.jsonl", rows[::-1]), "helpsteer2_pointwise", batch_rows=1)
    ]
    assert reversed_ids == ids[::-1]
    changed = [dict(rows[0], response="A different answer.")]
    other = _convert(write_rows("d.jsonl", changed), "helpsteer2_pointwise")
    assert other[0].unique_id not in ids


@pytest.mark.parametrize(
    ("strength", "first_label", "second_label"),
    [(-2, "chosen", "rejected"), (3, "rejected", "chosen"), (0, "tie", "tie")],
)
def test_pairwise_gives_both_orders_with_flipped_labels(
    write_rows: Callable[..., Path],
    make_preference_row: Callable[..., dict[str, Any]],
    strength: int,
    first_label: str,
    second_label: str,
) -> None:
    """Negative strength: response_1 is better; the ba order swaps answers and labels."""
    row = make_preference_row(0, strength)
    samples = _convert(write_rows("pref.jsonl", [row]), "helpsteer2_pairwise")
    assert len(samples) == 2
    ab, ba = samples
    assert ab.unique_id.endswith("-ab") and ba.unique_id.endswith("-ba")
    assert ab.unique_id[:-3] == ba.unique_id[:-3]
    assert ab.metadata == {"source_row": 0, "order": "ab"}
    assert ba.metadata == {"source_row": 0, "order": "ba"}
    assert [a.content for a in ab.output] == [row["response_1"], row["response_2"]]
    assert [a.content for a in ba.output] == [row["response_2"], row["response_1"]]
    magnitude = abs(strength)
    assert [a.label for a in ab.output] == [
        {"preference": first_label, "strength": magnitude},
        {"preference": second_label, "strength": magnitude},
    ]
    assert [a.label for a in ba.output] == [
        {"preference": second_label, "strength": magnitude},
        {"preference": first_label, "strength": magnitude},
    ]
    assert ab.input == ba.input
    assert all(s.task_category == "pairwise" for s in samples)


def test_pairwise_interleaves_orders_per_row(
    write_rows: Callable[..., Path], make_preference_row: Callable[..., dict[str, Any]]
) -> None:
    """Several rows: two samples per row, row by row, each pair with its own row's answers."""
    rows = [make_preference_row(i, s) for i, s in enumerate([-3, 1, 0, 2, -1])]
    samples = _convert(write_rows("prefs.parquet", rows), "helpsteer2_pairwise", batch_rows=2)
    assert len(samples) == 2 * len(rows)
    assert len({s.unique_id for s in samples}) == len(samples)
    for position, row in enumerate(rows):
        ab, ba = samples[2 * position], samples[2 * position + 1]
        assert ab.metadata["source_row"] == ba.metadata["source_row"] == position
        assert ab.input[0].content == row["prompt"]
        assert ab.output[0].content == row["response_1"] == ba.output[1].content
        strength = row["preference_strength"]
        expected = "tie" if strength == 0 else "chosen" if strength < 0 else "rejected"
        assert ab.output[0].label == {"preference": expected, "strength": abs(strength)}


def test_unknown_converter_lists_registered_names() -> None:
    """An unknown name raises ConfigError naming it and every registered converter."""
    config = DataConfig(converter="no_such_converter")
    with pytest.raises(ConfigError) as info:
        get_converter(config)
    message = str(info.value)
    assert "'no_such_converter'" in message
    assert "helpsteer2_pointwise" in message
    assert "helpsteer2_pairwise" in message


def test_a_new_converter_can_be_registered(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    write_rows: Callable[..., Path],
    make_pointwise_row: Callable[..., dict[str, Any]],
) -> None:
    """A factory registered under a new name is what get_converter and ingest use."""
    monkeypatch.setattr(convert, "_REGISTRY", dict(convert._REGISTRY))
    built: list[DataConfig] = []

    @register("two_label_pointwise")
    def factory(config: DataConfig) -> PointwiseConverter:
        built.append(config)
        return PointwiseConverter(config)

    config = DataConfig(converter="two_label_pointwise", labels=("helpfulness", "verbosity"))
    converter = get_converter(config)
    assert built == [config]
    assert isinstance(converter, PointwiseConverter)
    assert converter.labels == ("helpfulness", "verbosity")

    path = write_rows("two.jsonl", [make_pointwise_row(i) for i in range(3)])
    staged = config.model_copy(update={"source": SourceConfig(kind="local", path=path)})
    result = data_stage.ingest(fetch(staged.source, tmp_path), staged, tmp_path / "artifacts")
    assert result.sample_rows == 3
    assert [s.output[0].label for s in read_samples(result.samples_path)] == [
        {"helpfulness": row["helpfulness"], "verbosity": row["verbosity"]}
        for row in (make_pointwise_row(i) for i in range(3))
    ]
    with pytest.raises(ConfigError, match="two_label_pointwise"):
        get_converter(DataConfig(converter="another_unknown"))


# --- the vectorised text helpers the converters, the split and verl rows share ---

texts = st.lists(
    st.one_of(st.none(), st.text(alphabet=st.sampled_from(list("aB é\t\n\r\f\v\u00a0\u2003🎉")),
                                  max_size=12)),
    max_size=30,
)


def _pandas_row_hash(*columns: pa.Array) -> np.ndarray:
    """The reference: pandas' row hash of a frame of the columns (the former implementation)."""
    frame = pd.DataFrame({str(i): column.to_numpy(zero_copy_only=False)
                          for i, column in enumerate(columns)}, dtype=object)
    return pd.util.hash_pandas_object(frame, index=False).to_numpy()


@settings(max_examples=100, deadline=None)
@given(first=texts, second=texts, start=st.integers(0, 5), large=st.booleans())
def test_combined_text_hashes_are_pandas_row_hash(
    first: list[str | None], second: list[str | None], start: int, large: bool
) -> None:
    """Per-column hashes combined give pandas' frame hash: nulls, Unicode, slices, large
    strings; so sample ids and prompt groups are unchanged."""
    size = min(len(first), len(second))
    kind = pa.large_string() if large else pa.string()
    a = pa.array(first[:size], type=kind).slice(min(start, size))
    b = pa.array(second[:size], type=kind).slice(min(start, size))
    a_hash, b_hash = arrow_text.text_hashes(a), arrow_text.text_hashes(b)
    np.testing.assert_array_equal(arrow_text.combine_hashes(a_hash), _pandas_row_hash(a))
    np.testing.assert_array_equal(arrow_text.combine_hashes(a_hash, b_hash),
                                  _pandas_row_hash(a, b))


@settings(max_examples=100, deadline=None)
@given(values=texts, start=st.integers(0, 5))
def test_normalize_is_the_regex_definition(values: list[str | None], start: int) -> None:
    r"""Lower-cased, runs of RE2 `\s` collapsed to one space, trimmed: as the regex does."""
    array = pa.array(values, type=pa.string()).slice(min(start, len(values)))
    expected = pc.utf8_trim_whitespace(
        pc.replace_substring_regex(pc.utf8_lower(array), r"\s+", " ")
    )
    assert arrow_text.normalize(array).equals(expected)


def test_helpers_work_slice_by_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    """Results do not depend on the slice size the work is cut into."""
    array = pa.array([f"Text  {i}\t{'x' * (i % 7)} " if i % 5 else None for i in range(50)])
    expected = (arrow_text.text_hashes(array), arrow_text.text_chars(array))
    monkeypatch.setattr(arrow_text, "SLICE_ROWS", 7)
    np.testing.assert_array_equal(arrow_text.text_hashes(array), expected[0])
    np.testing.assert_array_equal(arrow_text.text_chars(array), expected[1])
    assert arrow_text.text_chars(array).dtype == np.int64


def test_hex_ids_format_each_hash() -> None:
    """`hex_ids` is `f"{prefix}{hash:016x}{suffix}"`, over the whole uint64 range."""
    hashes = np.array([0, 1, 0xABC, 2**63, 2**64 - 1], dtype=np.uint64)
    assert arrow_text.hex_ids("helpsteer2-", hashes, "-ab").to_pylist() == [
        f"helpsteer2-{h:016x}-ab" for h in hashes.tolist()
    ]
    assert arrow_text.hex_ids("p-", hashes[:0]).to_pylist() == []


def test_conversation_text_of_lone_messages_is_their_content() -> None:
    """Lone messages (the fast path) give their content, "" for a null content; mixed
    conversations still join "Role: content" turns."""
    lone = pa.array([[{"role": "user", "content": "Hi"}], [{"role": "user", "content": None}]],
                    type=pa.list_(MESSAGE_TYPE))
    assert arrow_text.conversation_text(lone).to_pylist() == ["Hi", ""]
    mixed = pa.array([[{"role": "user", "content": "Hi"}], None, [],
                      [{"role": "system", "content": "Be brief."},
                       {"role": "user", "content": "Why?"}]], type=pa.list_(MESSAGE_TYPE))
    assert arrow_text.conversation_text(mixed).to_pylist() == [
        "Hi", "", "", "System: Be brief.\n\nUser: Why?"
    ]


def test_row_hashes_group_and_pair(
    write_rows: Callable[..., Path], make_pointwise_row: Callable[..., dict[str, Any]]
) -> None:
    """The group hash is the normalised prompt's, the pair hash (prompt, response)'s."""
    rows = [make_pointwise_row(i, prompt=f"  Same   PROMPT {i // 2}\n") for i in range(4)]
    path = write_rows("rows.jsonl", rows)
    config = DataConfig(source=SourceConfig(kind="local", path=path))
    converter = get_converter(config)
    (batch,) = read_batches(fetch(config.source, path.parent), converter.kinds, {}, 10)
    hashes = converter.hashes(batch)
    prompts = arrow_text.normalize(pa.array([row["prompt"] for row in rows]))
    np.testing.assert_array_equal(hashes.group, _pandas_row_hash(prompts))
    responses = pa.array([row["response"] for row in rows])
    np.testing.assert_array_equal(hashes.pair, _pandas_row_hash(prompts, responses))
    assert hashes.group[0] == hashes.group[1] != hashes.group[2]
