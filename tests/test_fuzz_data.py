"""Property-based: whatever rows a source holds, every row ends in train, val or
quarantine (with a reason), the counts add up and nothing crashes.

The one refusal of a whole file is a source whose structure is wrong - no parsable
line, or a label column without a single number (a wrong column mapping): that is a
`SourceError` naming the file, and only allowed when not one row of it is valid.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rm_core.config import DataConfig, SourceConfig, ValidationConfig
from rm_core.data import stage as data_stage
from rm_core.data.sources import fetch
from rm_core.errors import SourceError
from rm_core.judge.rewards import compute_score
from rm_core.judge.templates import MultiAttributeTemplate, PairwiseTemplate, PointwiseTemplate

TEXT = st.one_of(
    st.text(max_size=40),
    st.just(""),
    st.none(),
    st.integers(),
    st.just("x" * 30_000),  # above the default 20k-character bound
    st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "robot"]),
                                    "content": st.text(max_size=20)}), max_size=3),
)
LABEL = st.one_of(st.integers(-2, 6), st.sampled_from([2.5, 3.0, "3", "x"]), st.none())
ROW = st.fixed_dictionaries({
    "prompt": TEXT,
    "response": TEXT,
    **{name: LABEL for name in ("helpfulness", "correctness", "coherence", "complexity",
                                "verbosity")},
})
# A line is a JSON row, a copy of an earlier row (a duplicate), or bytes that are not UTF-8.
LINE = st.one_of(ROW, st.just("duplicate"), st.binary(min_size=1, max_size=20).map(
    lambda raw: b"\xff" + raw))


def write_lines(path: Path, lines: list[Any]) -> int:
    """Write the source file; the number of rows (lines) it holds."""
    written: list[bytes] = []
    for line in lines:
        if line == "duplicate" and written:
            written.append(written[-1])
        elif isinstance(line, bytes):
            written.append(line.replace(b"\n", b" "))
        elif isinstance(line, dict):
            written.append(json.dumps(line).encode())
    path.write_bytes(b"\n".join(written) + b"\n")
    return len(written)


def valid(line: Any) -> bool:
    """A row every check accepts: texts present and in bounds, five labels in 0..4."""
    if not isinstance(line, dict):
        return False
    texts = (line["prompt"], line["response"])
    labels = [value for key, value in line.items() if key not in ("prompt", "response")]
    return (all(isinstance(t, str) and t.strip() and len(t) <= 20_000 for t in texts)
            and all(type(v) is int and 0 <= v <= 4 for v in labels))


def source_rows(path: Path, column: str = "metadata") -> list[int]:
    table = pq.read_table(path)
    if column == "metadata":
        return [json.loads(meta)["source_row"] for meta in table.column("metadata").to_pylist()]
    return table.column(column).to_pylist()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(LINE, min_size=1, max_size=30))
def test_every_row_is_kept_somewhere_with_counts_that_add_up(lines: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows = write_lines(root / "rows.jsonl", lines)
        if rows == 0:
            return
        config = DataConfig(source=SourceConfig(kind="local", path=root / "rows.jsonl"),
                            validation=ValidationConfig(max_bad_fraction=1.0))
        try:
            ingested = data_stage.ingest(fetch(config.source, root), config, root / "art")
        except SourceError as exc:
            assert str(root / "rows.jsonl") in str(exc)
            assert not any(valid(line) for line in lines), f"refused a file with valid rows: {exc}"
            return

        assert ingested.source_rows == rows
        assert ingested.sample_rows + ingested.quarantined_rows == rows
        kept = source_rows(ingested.samples_path)
        quarantine = pq.read_table(ingested.quarantine_path)
        rejected = quarantine.column("source_row").to_pylist()
        assert sorted(kept + rejected) == list(range(rows))
        assert all(reason for reason in quarantine.column("reason").to_pylist())

        split = data_stage.split(ingested, config, root / "art")
        verl = data_stage.to_verl(split, config, root / "art")
        assert verl.train_rows + verl.val_rows == ingested.sample_rows


TAGGED = st.lists(st.one_of(
    st.text(max_size=30),
    st.sampled_from(["<score>", "</score>", "<preference>", "</preference>", "<helpfulness>",
                     "</helpfulness>", " 4.0 ", "-1", "A", "tie", "<score> 3 </score>"]),
), max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(TAGGED)
def test_parsers_answer_any_model_output_in_range_or_none(text: str) -> None:
    score = PointwiseTemplate().parse(text)
    assert score is None or (type(score) is int and 0 <= score <= 4)
    assert PairwiseTemplate().parse(text) in (None, "A", "B", "tie")
    assert PairwiseTemplate(allow_tie=False).parse(text) in (None, "A", "B")
    multi = MultiAttributeTemplate(("helpfulness", "verbosity")).parse(text)
    assert all(v is None or 0 <= v <= 4 for v in multi.values())
    assert compute_score("hs2", text, {"helpfulness": 2})["score"] >= 0.0
