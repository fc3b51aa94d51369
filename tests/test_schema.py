"""DataSample <-> parquet round trip through write_samples / read_samples."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from rm_core.data.schema import Answer, ChatMessage, DataSample, read_samples, write_samples


def _pointwise(unique_id: str, helpfulness: int, **labels: int) -> DataSample:
    return DataSample(
        unique_id=unique_id,
        input=[ChatMessage(role="user", content=f"Question {unique_id}?")],
        output=[
            Answer(content=f"Answer {unique_id}.", label={"helpfulness": helpfulness, **labels})
        ],
        source="helpsteer2",
        task_category="pointwise",
        metadata={"source_row": 0},
    )


def test_round_trip_is_lossless_for_mixed_samples(tmp_path: Path) -> None:
    """Pointwise, pairwise, unicode, multi-turn input and nested metadata survive parquet."""
    samples = [
        DataSample(
            unique_id="pw-1",
            input=[
                ChatMessage(role="system", content="Sei un assistente. 你好 🌍"),
                ChatMessage(role="user", content="Ciao! Wie geht's? ¿Qué tal?\n\ttabs"),
                ChatMessage(role="assistant", content="Bene, grazie."),
                ChatMessage(role="user", content='And "quotes" and {braces} and \\ slashes'),
            ],
            output=[
                Answer(
                    content="Réponse: ✓ ünïcödé — done",
                    label={"helpfulness": 4, "correctness": 0, "verbosity": 2},
                )
            ],
            source="helpsteer2",
            task_category="pointwise",
            metadata={"source_row": 7, "nested": {"list": [1, 2.5, "x"], "flag": True},
                      "émoji": "😀"},
        ),
        DataSample(
            unique_id="pair-1-ab",
            input=[ChatMessage(role="user", content="Which is better?")],
            output=[
                Answer(content="first", label={"preference": "chosen", "strength": 2}),
                Answer(content="second", label={"preference": "rejected", "strength": 2}),
            ],
            source="helpsteer2",
            task_category="pairwise",
            metadata={},
        ),
        _pointwise("pw-2", 1, correctness=3),
    ]
    path = tmp_path / "samples.parquet"
    write_samples(samples, path)
    back = read_samples(path)
    assert back == samples
    assert [s.model_dump() for s in back] == [s.model_dump() for s in samples]


def test_label_types_are_kept(tmp_path: Path) -> None:
    """Integer labels stay ints, float labels floats and string labels strings on disk."""
    samples = [
        DataSample(
            unique_id="x",
            input=[ChatMessage(role="user", content="q")],
            output=[Answer(content="a", label={"score": 3, "ratio": 0.25, "tag": "good"})],
            source="s",
            task_category="pointwise",
        )
    ]
    path = tmp_path / "typed.parquet"
    write_samples(samples, path)
    label = read_samples(path)[0].output[0].label
    assert label == {"score": 3, "ratio": 0.25, "tag": "good"}
    assert type(label["score"]) is int
    assert type(label["ratio"]) is float
    label_type = pq.read_schema(path).field("output").type.value_type.field("label").type
    assert [f.name for f in label_type] == ["score", "ratio", "tag"]


def test_labels_absent_from_a_sample_are_not_invented(tmp_path: Path) -> None:
    """A label only some samples have is null on disk and absent again after reading."""
    samples = [_pointwise("a", 2), _pointwise("b", 3, correctness=1)]
    path = tmp_path / "sparse.parquet"
    write_samples(samples, path)
    raw = pq.read_table(path).column("output").to_pylist()
    assert raw[0][0]["label"] == {"helpfulness": 2, "correctness": None}
    back = read_samples(path)
    assert back[0].output[0].label == {"helpfulness": 2}
    assert back[1].output[0].label == {"helpfulness": 3, "correctness": 1}


def test_boolean_labels_are_rejected(tmp_path: Path) -> None:
    """bool is an int subclass; storing it as a number would silently change its meaning."""
    sample = _pointwise("a", 1)
    sample.output[0].label["flag"] = True
    with pytest.raises(TypeError, match="bool"):
        write_samples([sample], tmp_path / "bad.parquet")
