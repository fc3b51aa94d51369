"""Validation suites through data_stage.ingest: every bad row quarantined with its reason."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from rm_core.config import DataConfig, ValidationConfig
from rm_core.data import stage as data_stage
from rm_core.data.schema import read_samples
from rm_core.data.sources import fetch
from rm_core.data.stage import IngestResult, require_quality
from rm_core.errors import DataQualityError

Row = dict[str, Any]
GOOD_ROWS = 8


Ingest = Callable[..., tuple[IngestResult, dict[int, Row]]]


@pytest.fixture
def ingest(
    tmp_path: Path, write_rows: Callable[..., Path], local_config: Callable[..., DataConfig]
) -> Ingest:
    """`ingest(rows, name="rows.jsonl", **data_changes)`: write `rows` to a local source
    and ingest it; the result and the quarantine rows by source row."""

    def run(rows: list[Row | str], name: str = "rows.jsonl",
            **changes: Any) -> tuple[IngestResult, dict[int, Row]]:
        config = local_config(write_rows(name, rows), **changes)
        result = data_stage.ingest(fetch(config.source, tmp_path), config,
                                   tmp_path / "artifacts")
        quarantine = pq.read_table(result.quarantine_path).to_pylist()
        return result, {row["source_row"]: row for row in quarantine}

    return run


def _with_bad_row(make_row: Callable[..., Row], bad: Row | str) -> list[Row | str]:
    """GOOD_ROWS valid rows with `bad` at position 3."""
    rows: list[Row | str] = [make_row(i) for i in range(GOOD_ROWS)]
    rows.insert(3, bad)
    return rows


Case = tuple[str, dict[str, Any], str]


def _cases(cases: list[Case]) -> list[Any]:
    """(name, change to a valid row, reason expected) -> parameters named by the case."""
    return [pytest.param(change, reason, id=name) for name, change, reason in cases]


POINTWISE_CASES: list[Case] = [
    ("empty prompt", {"prompt": ""}, "prompt has 0 characters"),
    ("empty response", {"response": ""}, "response has 0 characters"),
    ("whitespace-only response", {"response": " \n\t "}, "response has 0 characters"),
    ("too long response", {"response": "x" * 61}, "response has 61 characters, expected 1..60"),
    ("label missing", {"helpfulness": None}, "label helpfulness is missing"),
    ("label 5", {"correctness": 5}, "label correctness=5 is not an integer in 0..4"),
    ("label -1", {"coherence": -1}, "label coherence=-1 is not an integer in 0..4"),
    ("fractional label", {"complexity": 2.5}, "label complexity=2.5 is not an integer in 0..4"),
    (
        "unknown role",
        {"prompt": [{"role": "user", "content": "hi"}, {"role": "bot", "content": "hello"}]},
        "unknown role 'bot'",
    ),
    ("non-numeric label", {"verbosity": "lots"}, 'verbosity: expected a number, got text "lots"'),
    ("response not text", {"response": {"text": "nested"}}, "response: expected text, got dict"),
]


@pytest.mark.parametrize(("change", "reason"), _cases(POINTWISE_CASES))
def test_pointwise_bad_row_is_quarantined_with_reason(
    ingest: Ingest,
    make_pointwise_row: Callable[..., Row],
    change: dict[str, Any],
    reason: str,
) -> None:
    """Exactly the bad row is quarantined, its reason names the field; the rest are samples."""
    bad = make_pointwise_row(100, **change)
    rows = _with_bad_row(make_pointwise_row, bad)
    result, quarantine = ingest(rows, validation=ValidationConfig(max_response_chars=60))
    assert list(quarantine) == [3]
    assert reason in quarantine[3]["reason"]
    assert result.source_rows == len(rows)
    assert result.quarantined_rows == 1
    assert result.sample_rows == GOOD_ROWS
    assert result.sample_rows + result.quarantined_rows == result.source_rows
    samples = read_samples(result.samples_path)
    assert sorted(s.metadata["source_row"] for s in samples) == [0, 1, 2, 4, 5, 6, 7, 8]
    assert "100:" in quarantine[3]["record"]  # the bad row's own values are kept


def test_response_at_the_length_limit_passes(
    ingest: Ingest,
    make_pointwise_row: Callable[..., Row],
) -> None:
    """The bounds are inclusive: a response of exactly max_response_chars is kept."""
    rows = _with_bad_row(make_pointwise_row, make_pointwise_row(100, response="y" * 60))
    result, quarantine = ingest(rows, validation=ValidationConfig(max_response_chars=60))
    assert quarantine == {}
    assert result.sample_rows == len(rows)


def test_invalid_json_line_is_quarantined_naming_the_line(
    ingest: Ingest,
    make_pointwise_row: Callable[..., Row],
) -> None:
    """A broken jsonl line is one quarantined row whose reason names its line number."""
    rows = _with_bad_row(make_pointwise_row, '{"prompt": "unterminated')
    result, quarantine = ingest(rows)
    assert list(quarantine) == [3]
    assert "line 4 is not valid JSON" in quarantine[3]["reason"]
    assert quarantine[3]["record"] == '{"prompt": "unterminated'
    assert result.sample_rows == GOOD_ROWS
    assert result.sample_rows + result.quarantined_rows == result.source_rows == len(rows)


@pytest.mark.parametrize("name", ["tail.jsonl", "tail.parquet"])
def test_bad_label_alone_in_the_last_batch_is_quarantined(
    ingest: Ingest,
    make_pointwise_row: Callable[..., Row],
    name: str,
) -> None:
    """A short last batch whose only label is non-numeric holds a bad row, not a bad column."""
    rows: list[Row | str] = [make_pointwise_row(i, helpfulness=str(i % 5)) for i in range(4)]
    rows.append(make_pointwise_row(4, helpfulness="lots"))
    result, quarantine = ingest(rows, name=name, batch_rows=4)
    assert list(quarantine) == [4]
    assert 'helpfulness: expected a number, got text "lots"' in quarantine[4]["reason"]
    assert result.sample_rows == 4


def test_json_value_that_is_not_an_object_is_quarantined(
    ingest: Ingest,
    make_pointwise_row: Callable[..., Row],
) -> None:
    """A jsonl line holding a list instead of an object is a bad row, not a crash, and
    its quarantine record keeps what the line held."""
    rows = _with_bad_row(make_pointwise_row, "[1, 2, 3]")
    result, quarantine = ingest(rows)
    assert list(quarantine) == [3]
    assert "row is a JSON list, expected an object" in quarantine[3]["reason"]
    assert quarantine[3]["record"] == "[1, 2, 3]"  # the row as written, not null fields
    assert result.sample_rows == GOOD_ROWS


def test_duplicates_keep_the_first_and_name_it(
    ingest: Ingest,
    make_pointwise_row: Callable[..., Row],
) -> None:
    """Later copies of a (prompt, response) pair, across batches and prompt case/spacing,
    are quarantined naming the first row; the first copy is kept."""
    rows: list[Row | str] = [make_pointwise_row(i) for i in range(GOOD_ROWS)]
    original = make_pointwise_row(2)
    rows.append(dict(original, helpfulness=0))
    rows.append(dict(original, prompt="  " + original["prompt"].upper() + "\n"))
    rows.append(dict(make_pointwise_row(5), response="a new answer"))
    result, quarantine = ingest(rows, batch_rows=3)
    assert sorted(quarantine) == [8, 9]
    assert quarantine[8]["reason"] == "duplicate of source row 2"
    assert quarantine[9]["reason"] == "duplicate of source row 2"
    kept = read_samples(result.samples_path)
    assert [s.metadata["source_row"] for s in kept] == [0, 1, 2, 3, 4, 5, 6, 7, 10]
    assert result.sample_rows + result.quarantined_rows == result.source_rows == 11


def test_several_problems_in_one_row_are_all_reported(
    ingest: Ingest,
    make_pointwise_row: Callable[..., Row],
) -> None:
    """A row failing several expectations is one quarantined row listing every reason."""
    bad = make_pointwise_row(100, response="", helpfulness=9, verbosity=None)
    result, quarantine = ingest(_with_bad_row(make_pointwise_row, bad))
    reason = quarantine[3]["reason"]
    assert "response has 0 characters" in reason
    assert "label helpfulness=9" in reason
    assert "label verbosity is missing" in reason
    assert result.quarantined_rows == 1
    by_title = {e.title: e.unexpected_count for e in result.report.expectations}
    assert by_title["response length"] == 1
    assert by_title["helpfulness integral in 0..4"] == 1
    assert by_title["verbosity present"] == 1
    assert by_title["prompt length"] == 0


PAIRWISE_CASES: list[Case] = [
    ("strength 4", {"preference_strength": 4}, "label preference_strength=4 is not an integer"),
    ("fractional strength", {"preference_strength": 1.5}, "preference_strength=1.5"),
    ("strength missing", {"preference_strength": None}, "label preference_strength is missing"),
    ("empty response_2", {"response_2": ""}, "response_2 has 0 characters"),
    ("missing response_1", {"response_1": None}, "response_1 is missing"),
    ("identical responses", {"response_1": "same text", "response_2": "same text"},
     "response_1 and response_2 are identical"),
    ("empty prompt", {"prompt": ""}, "prompt has 0 characters"),
]


@pytest.mark.parametrize(("change", "reason"), _cases(PAIRWISE_CASES))
def test_pairwise_bad_row_is_quarantined_with_reason(
    ingest: Ingest,
    make_preference_row: Callable[..., Row],
    change: dict[str, Any],
    reason: str,
) -> None:
    """The pairwise suite checks strength range, both responses and the prompt."""
    rows = _with_bad_row(lambda i: make_preference_row(i, i % 7 - 3),
                         make_preference_row(100, 1, **change))
    result, quarantine = ingest(rows, name="prefs.jsonl", converter="helpsteer2_pairwise")
    assert list(quarantine) == [3]
    assert reason in quarantine[3]["reason"]
    assert result.task_category == "pairwise"
    assert result.source_rows == len(rows)
    assert result.sample_rows == 2 * (result.source_rows - result.quarantined_rows)


PAIR_CASES: list[Case] = [
    ("identical", {"rejected": "  Good answer 100. "}, "chosen and rejected are identical"),
    ("empty chosen", {"chosen": " "}, "chosen has 0 characters"),
    ("missing rejected", {"rejected": None}, "rejected is missing"),
]


@pytest.mark.parametrize(("change", "reason"), _cases(PAIR_CASES))
def test_chosen_rejected_bad_pair_is_quarantined_naming_the_field(
    ingest: Ingest, change: dict[str, Any], reason: str
) -> None:
    """A pair with identical, empty or missing sides is quarantined with a reason in the
    source's own field names; the row's values are kept in the quarantine record."""

    def pair(i: int, **changes: Any) -> Row:
        return {"prompt": f"Question {i}?", "chosen": f"Good answer {i}.",
                "rejected": f"bad {i}", **changes}

    rows = _with_bad_row(pair, pair(100, **change))
    result, quarantine = ingest(rows, name="pairs.jsonl", converter="chosen_rejected_pairwise")
    assert list(quarantine) == [3]
    assert quarantine[3]["reason"].startswith(reason)
    assert "Question 100?" in quarantine[3]["record"]
    assert result.sample_rows == 2 * GOOD_ROWS


def test_missing_side_key_is_quarantined(ingest: Ingest) -> None:
    """A jsonl pair without its `rejected` key at all is a missing side, not a crash."""
    rows: list[Row | str] = [{"prompt": f"Q{i}?", "chosen": f"yes {i}", "rejected": f"no {i}"}
                             for i in range(GOOD_ROWS)]
    rows.append({"prompt": "Q?", "chosen": "yes"})
    _, quarantine = ingest(rows, name="pairs.jsonl", converter="chosen_rejected_pairwise")
    assert quarantine[GOOD_ROWS]["reason"] == "rejected is missing"


@pytest.fixture
def ingested_with_bad(ingest: Ingest, make_pointwise_row: Callable[..., Row], bad: int,
                      limit: float) -> IngestResult:
    """20 rows, `bad` of them with an empty response, ingested with max_bad_fraction=`limit`
    (`bad` and `limit` are the test's parameters)."""
    rows: list[Row | str] = [make_pointwise_row(i) for i in range(20)]
    for position in range(bad):
        rows[position * 2] = make_pointwise_row(position * 2, response="")
    result, quarantine = ingest(rows, validation=ValidationConfig(max_bad_fraction=limit))
    assert len(quarantine) == bad
    return result


@pytest.mark.parametrize(("bad", "limit"), [(0, 0.0), (1, 0.05), (2, 0.1), (1, 0.1)])
def test_require_quality_passes_at_or_below_the_limit(ingested_with_bad: IngestResult) -> None:
    """A bad fraction equal to or under max_bad_fraction does not raise."""
    assert ingested_with_bad.report.passed
    require_quality(ingested_with_bad)


@pytest.mark.parametrize(("bad", "limit"), [(2, 0.05), (1, 0.0), (3, 0.1)])
def test_require_quality_raises_above_the_limit(ingested_with_bad: IngestResult,
                                                bad: int) -> None:
    """Above max_bad_fraction: DataQualityError with the counts and the quarantine file."""
    result = ingested_with_bad
    assert not result.report.passed
    with pytest.raises(DataQualityError) as info:
        require_quality(result)
    message = str(info.value)
    assert str(result.quarantine_path) in message
    assert result.quarantine_path.is_file()
    assert f"{bad:,} of 20 rows" in message
    assert f"response length: {bad}" in message
