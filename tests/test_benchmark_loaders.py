"""Benchmark loaders on the fixture files (the real schemas), the hub path, quarantine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rm_core.benchmarks.items import (
    BENCHMARKS,
    BenchmarkError,
    HubUnavailable,
    read_items,
    write_items,
)
from rm_core.benchmarks.loaders import load_benchmark
from rm_core.benchmarks.units import units
from rm_core.judge.templates import PairwiseTemplate, PointwiseTemplate

FIXTURES = Path(__file__).parent / "fixtures" / "benchmarks"
RB2 = FIXTURES / "reward-bench-2.jsonl"
RM_BENCH = FIXTURES / "rm-bench"
JUDGEBENCH = FIXTURES / "judgebench-gpt.jsonl"


def test_rewardbench2_rows_become_best_of_n_items_with_ties() -> None:
    bench = load_benchmark("rewardbench2", RB2)
    assert bench.total_rows == len(bench.items) == 10 and not bench.quarantined
    assert {item.group for item in bench.items} == {"Factuality", "Precise IF", "Math", "Safety",
                                                    "Focus", "Ties"}
    tied = next(item for item in bench.items if item.id == "tied:1")
    assert tied.n_correct == 3 and tied.responses[:3] == ["2", "3", "5"]
    math_item = next(item for item in bench.items if item.id == "2")
    assert math_item.responses[0] == "12 * 12 = 144." and len(math_item.comparisons()) == 3


def test_rm_bench_folder_takes_the_domain_from_each_file_name() -> None:
    bench = load_benchmark("rm-bench", RM_BENCH)
    assert [item.group for item in bench.items] == ["chat", "chat", "code", "safety-refuse"]
    item = bench.items[0]
    assert item.n_correct == 3 and len(item.responses) == 6
    assert item.responses[0].startswith("Mercury") and item.responses[3].startswith("Venus")
    # the 3x3 matrix, row-major: chosen style i against rejected style j
    assert item.comparisons() == [(i, 3 + j) for i in range(3) for j in range(3)]


def test_rm_bench_reads_a_domain_field_in_any_file(tmp_path: Path) -> None:
    rows = json.loads((RM_BENCH / "chat_filtered.json").read_text())
    path = tmp_path / "total_dataset.json"
    path.write_text(json.dumps([{**row, "domain": "math"} for row in rows]))
    assert {item.group for item in load_benchmark("rm-bench", path).items} == {"math"}


def test_judgebench_puts_the_labelled_winner_first() -> None:
    bench = load_benchmark("judgebench", JUDGEBENCH)
    second = bench.items[1]  # label B>A: "15% of 200 is 30."
    assert second.responses == ["15% of 200 is 30.", "15% of 200 is 20."]
    assert not second.first_is_a and bench.items[0].first_is_a
    assert second.group == "livebench-math"


def test_both_judge_kinds_get_their_units() -> None:
    bench = load_benchmark("judgebench", JUDGEBENCH)
    pointwise = units("judgebench", bench.items, PointwiseTemplate())
    pairwise = units("judgebench", bench.items, PairwiseTemplate())
    assert len(pointwise) == 2 * len(bench.items) and len(pairwise) == 2 * len(bench.items)
    key, text = pairwise[3]  # item 1, shown in the swapped order
    assert key == "1|0>1|BA" and text.index("is 20.") < text.index("is 30.")


def test_the_hub_path_asks_for_the_authors_dataset(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    asked: list[tuple[str, str]] = []
    rows = [json.loads(line) for line in JUDGEBENCH.read_text().splitlines()]

    def load_dataset(name: str, split: str) -> Any:
        asked.append((name, split))
        return datasets.Dataset.from_list(rows)

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    bench = load_benchmark("judgebench")
    assert asked == [("ScalerLab/JudgeBench", "gpt")] and len(bench.items) == 5
    assert bench.origin == "huggingface:ScalerLab/JudgeBench:gpt"


def test_an_unreachable_hub_says_to_use_a_local_file(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    def offline(name: str, split: str) -> Any:
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(HubUnavailable, match=r"allenai/reward-bench-2.*local file"):
        load_benchmark("rewardbench2")
    with pytest.raises(BenchmarkError, match="not on the Hugging Face hub"):
        load_benchmark("rm-bench")


def test_rows_that_do_not_fit_are_quarantined_with_file_row_and_field(tmp_path: Path) -> None:
    good = [json.loads(line) for line in RB2.read_text().splitlines()][:3]
    bad = [
        {**good[0], "id": "9", "chosen": []},
        {**good[0], "id": "10", "num_correct": 2},
        {**good[0], "id": "11", "subset": "Ties"},  # a Ties id must be ref:/tied:
        {**good[0], "id": "12", "prompt": None},
        good[1],  # duplicate id
    ]
    path = tmp_path / "rb2.jsonl"
    path.write_text("\n".join([*map(json.dumps, good + bad), "{not json", "[1, 2]"]) + "\n")
    bench = load_benchmark("rewardbench2", path)
    assert len(bench.items) == 3 and bench.total_rows == 10
    found = [(q.row, q.field) for q in bench.quarantined]
    assert found == [(3, "chosen"), (4, "num_correct"), (5, "id"), (6, "prompt"), (7, "id"),
                     (8, "(row)"), (9, "(row)")]
    assert all(q.file == str(path) for q in bench.quarantined)
    assert "duplicate id" in bench.quarantined[4].reason


def test_rm_bench_needs_three_responses_per_side_and_a_domain(tmp_path: Path) -> None:
    rows = json.loads((RM_BENCH / "chat_filtered.json").read_text())
    path = tmp_path / "mystery.json"
    path.write_text(json.dumps([rows[0], {**rows[1], "domain": "chat", "chosen": ["a", "b"]}]))
    with pytest.raises(BenchmarkError, match="none of the 2 rows"):
        load_benchmark("rm-bench", path)
    kept_out = load_benchmark("rm-bench", RM_BENCH).quarantined
    assert kept_out == []


def test_judgebench_labels_are_checked(tmp_path: Path) -> None:
    rows = [json.loads(line) for line in JUDGEBENCH.read_text().splitlines()]
    path = tmp_path / "jb.json"
    path.write_text(json.dumps([rows[0], {**rows[1], "label": "A=B"}]))
    bench = load_benchmark("judgebench", path)
    assert [(q.row, q.field) for q in bench.quarantined] == [(1, "label")]


def test_an_unknown_benchmark_name_lists_the_known_ones() -> None:
    with pytest.raises(BenchmarkError, match="known: " + ", ".join(BENCHMARKS)):
        load_benchmark("rewardbench3", RB2)


def test_a_missing_or_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkError, match="does not exist"):
        load_benchmark("judgebench", tmp_path / "nope.jsonl")
    (tmp_path / "rows.csv").write_text("a,b\n")
    with pytest.raises(BenchmarkError, match=r"expected a \.json, \.jsonl or \.parquet"):
        load_benchmark("judgebench", tmp_path / "rows.csv")


def test_limit_samples_across_the_file_reproducibly(tmp_path: Path) -> None:
    first = load_benchmark("rewardbench2", RB2, limit=4, seed=3)
    again = load_benchmark("rewardbench2", RB2, limit=4, seed=3)
    other = load_benchmark("rewardbench2", RB2, limit=4, seed=4)
    assert [i.id for i in first.items] == [i.id for i in again.items]
    assert [i.id for i in first.items] != [i.id for i in other.items]
    order = [i.id for i in load_benchmark("rewardbench2", RB2).items]
    assert [order.index(i.id) for i in first.items] == sorted(order.index(i.id)
                                                             for i in first.items)
    path = write_items(first, tmp_path)
    assert path == write_items(again, tmp_path)  # content-addressed
    assert read_items(path) == ("rewardbench2", first.items)
