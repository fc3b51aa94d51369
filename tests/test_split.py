"""Leak-free, deterministic, stratified train/val split."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rm_core.config import DataConfig, SplitConfig
from rm_core.data import stage as data_stage
from rm_core.data.convert.arrow_text import conversation_text, normalize
from rm_core.data.schema import DataSample, read_samples, table_to_samples
from rm_core.data.sources import fetch
from rm_core.data.split import assign
from rm_core.data.stage import IngestResult, SplitResult

Row = dict[str, Any]
GROUPS_PER_LABEL = 10


def _variants(text: str) -> list[str]:
    """The same prompt as differently cased and spaced text."""
    return [text, text.upper(), "  " + text.replace(" ", "   ") + "\n", text.lower() + "\t"]


def _grouped_rows(make_row: Callable[..., Row]) -> list[Row]:
    """5 labels x GROUPS_PER_LABEL prompts, each prompt with 1-4 variant samples."""
    rows = []
    for group in range(5 * GROUPS_PER_LABEL):
        prompt = f"Prompt Group {group}: Explain Topic {group * 7}"
        for copy, text in enumerate(_variants(prompt)[: group % 4 + 1]):
            rows.append(make_row(group, score=group % 5, prompt=text,
                                 response=f"response {copy} to {group}"))
    return rows


RunSplit = Callable[..., tuple[IngestResult, SplitResult]]


@pytest.fixture
def run_split(tmp_path: Path, local_config: Callable[..., DataConfig]) -> RunSplit:
    """`run_split(path, seed=42, val_fraction=0.2, root="artifacts", **data_changes)`: ingest
    the local source `path` (no row quarantined) and split it under tmp_path/`root`."""

    def run(path: Path, seed: int = 42, val_fraction: float = 0.2, root: str = "artifacts",
            **changes: Any) -> tuple[IngestResult, SplitResult]:
        config = local_config(path, split=SplitConfig(val_fraction=val_fraction, seed=seed),
                              **changes)
        ingested = data_stage.ingest(fetch(config.source, tmp_path), config, tmp_path / root)
        assert ingested.quarantined_rows == 0
        return ingested, data_stage.split(ingested, config, tmp_path / root)

    return run


def _members(result: SplitResult, name: str) -> list[DataSample]:
    """The samples a split file lists, taken from the ingest's samples by position."""
    members = pq.read_table(result.dir / f"{name}.parquet")
    samples = pq.read_table(result.samples).take(members.column("sample_index"))
    assert samples.column("unique_id").equals(members.column("unique_id"))
    return table_to_samples(samples)


def _norm(sample: DataSample) -> str:
    return re.sub(r"\s+", " ", sample.input[0].content.lower()).strip()


@pytest.fixture
def grouped_file(
    write_rows: Callable[..., Path], make_pointwise_row: Callable[..., Row]
) -> tuple[Path, list[Row]]:
    rows = _grouped_rows(make_pointwise_row)
    return write_rows("grouped.jsonl", rows), rows


def test_no_prompt_in_both_splits(
    grouped_file: tuple[Path, list[Row]], run_split: RunSplit
) -> None:
    """Case and whitespace variants of a prompt land in the same split; counts add up."""
    path, rows = grouped_file
    ingested, result = run_split(path)
    train, val = _members(result, "train"), _members(result, "val")
    train_prompts, val_prompts = {_norm(s) for s in train}, {_norm(s) for s in val}
    assert train_prompts and val_prompts
    assert not train_prompts & val_prompts
    assert len(train_prompts | val_prompts) == 5 * GROUPS_PER_LABEL
    assert len(train) + len(val) == len(rows)
    all_ids = [s.unique_id for s in read_samples(ingested.samples_path)]
    assert sorted(s.unique_id for s in train + val) == sorted(all_ids)
    report = result.report
    assert (report.train_rows, report.val_rows) == (len(train), len(val))
    assert (report.train_prompts, report.val_prompts) == (len(train_prompts), len(val_prompts))
    assert report.shared_prompts == 0
    assert report.label == "helpfulness"


def test_prompt_groups_are_the_samples_normalised_prompts(
    grouped_file: tuple[Path, list[Row]], run_split: RunSplit
) -> None:
    """The groups ingest records per sample are the hash of the sample's normalised prompt,
    the identity the split groups by; the split files list every sample once."""
    path, rows = grouped_file
    ingested, result = run_split(path, batch_rows=7)
    samples = pq.read_table(ingested.samples_path)
    prompts = normalize(conversation_text(samples.column("input").combine_chunks()))
    groups = pq.read_table(ingested.groups_path).column("group").to_numpy()
    frame = pd.DataFrame({"prompt": prompts.to_numpy(zero_copy_only=False)}, dtype=object)
    np.testing.assert_array_equal(groups, pd.util.hash_pandas_object(frame, index=False))
    assert len(np.unique(groups)) == 5 * GROUPS_PER_LABEL
    members = [pq.read_table(path).column("sample_index").to_pylist()
               for path in (result.train_path, result.val_path)]
    assert sorted(members[0] + members[1]) == list(range(len(rows)))


def test_stratification_puts_every_label_in_val(
    grouped_file: tuple[Path, list[Row]], run_split: RunSplit
) -> None:
    """With 10 prompt groups per label and val_fraction 0.2, each label gets 2 val groups."""
    path, _ = grouped_file
    _, result = run_split(path)
    val = _members(result, "val")
    groups_per_label: dict[int, set[str]] = {}
    for sample in val:
        groups_per_label.setdefault(sample.output[0].label["helpfulness"], set()).add(_norm(sample))
    assert {label: len(groups) for label, groups in groups_per_label.items()} == dict.fromkeys(
        range(5), 2
    )
    counts = result.report.counts
    assert sorted(counts) == ["0", "1", "2", "3", "4"]
    assert all(c["val"] > 0 and c["train"] > 0 for c in counts.values())
    assert sum(c["val"] for c in counts.values()) == result.report.val_rows


def _split_ids(result: SplitResult) -> tuple[list[str], list[str]]:
    return (
        pq.read_table(result.train_path).column("unique_id").to_pylist(),
        pq.read_table(result.val_path).column("unique_id").to_pylist(),
    )


def test_split_is_deterministic_for_a_seed(
    grouped_file: tuple[Path, list[Row]], run_split: RunSplit
) -> None:
    """Two independent runs (separate artifact roots) with one seed give the same split;
    another seed gives another split."""
    path, _ = grouped_file
    _, first = run_split(path, seed=7, root="run1")
    _, second = run_split(path, seed=7, root="run2")
    _, other = run_split(path, seed=8, root="run3")
    assert _split_ids(first) == _split_ids(second)
    assert set(_split_ids(first)[1]) != set(_split_ids(other)[1])
    assert first.report.counts == second.report.counts


def test_pairwise_orders_of_a_pair_stay_together(
    write_rows: Callable[..., Path], make_preference_row: Callable[..., Row], run_split: RunSplit
) -> None:
    """Both answer orders of a preference row share a prompt, hence a split; strata are
    the winning position."""
    rows = [make_preference_row(i, i % 7 - 3) for i in range(42)]
    path = write_rows("prefs.jsonl", rows)
    _, result = run_split(path, converter="helpsteer2_pairwise")
    train_ids, val_ids = _split_ids(result)
    assert len(train_ids) + len(val_ids) == 2 * len(rows)
    pairs = Counter(i.rsplit("-", 1)[0] for i in val_ids)
    assert pairs and set(pairs.values()) == {2}
    assert not {i.rsplit("-", 1)[0] for i in train_ids} & set(pairs)
    assert result.report.label == "winner"
    assert sorted(result.report.counts) == ["A", "B", "tie"]
    assert all(c["val"] > 0 for c in result.report.counts.values())


# --- property-based: rm_core.data.split.assign on arbitrary groups and labels ---

group_arrays = st.lists(
    st.tuples(st.integers(0, 2**64 - 1), st.sampled_from(["0", "1", "2", "A", "tie"])),
    min_size=1,
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@example(  # a group whose labels tie must not change stratum when the rows are reordered
    rows=[(0, "0"), (0, "1"), (0, "2"), (1, "0"), (2, "0")], val_fraction=0.5, seed=0
)
@given(
    rows=group_arrays,
    val_fraction=st.floats(0.01, 0.99),
    seed=st.integers(0, 2**63 - 1),
)
def test_assign_properties(rows: list[tuple[int, str]], val_fraction: float, seed: int) -> None:
    """No group on both sides, every sample assigned once, neither side empty with 2+ groups,
    and the same inputs give the same mask."""
    groups = np.array([g for g, _ in rows], dtype=np.uint64)
    labels = np.array([label for _, label in rows], dtype=object)
    in_val = assign(groups, labels, val_fraction, seed)
    assert in_val.dtype == bool
    assert in_val.shape == groups.shape
    val_groups, train_groups = set(groups[in_val].tolist()), set(groups[~in_val].tolist())
    assert not val_groups & train_groups
    assert val_groups | train_groups == set(groups.tolist())
    if len(set(groups.tolist())) >= 2:
        assert val_groups and train_groups
    np.testing.assert_array_equal(in_val, assign(groups, labels, val_fraction, seed))
    order = np.random.default_rng(seed % 1000).permutation(len(groups))
    np.testing.assert_array_equal(
        in_val[order], assign(groups[order], labels[order], val_fraction, seed)
    )


@settings(max_examples=50, deadline=None)
@given(groups_per_label=st.integers(5, 40), val_fraction=st.floats(0.2, 0.5),
       seed=st.integers(0, 2**32))
def test_assign_stratifies_by_label(groups_per_label: int, val_fraction: float,
                                    seed: int) -> None:
    """Each label gets round(groups * val_fraction) val groups (here always at least one)."""
    labels = np.repeat(np.array(["a", "b", "c"], dtype=object), groups_per_label)
    groups = np.arange(len(labels), dtype=np.uint64) * np.uint64(2654435761)
    in_val = assign(groups, labels, val_fraction, seed)
    expected = int(np.round(groups_per_label * val_fraction))
    for label in ("a", "b", "c"):
        assert int(in_val[labels == label].sum()) == expected
