"""Content-addressed stage caching: reuse, invalidation, rebuild and atomic outputs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from rm_core.artifacts import MANIFEST, atomic_dir, finish, is_complete, read_result
from rm_core.config import DataConfig, SplitConfig
from rm_core.data import stage as data_stage
from rm_core.data.sources import fetch
from rm_core.data.stage import IngestResult, SplitResult, VerlResult
from rm_core.errors import SourceError

Row = dict[str, Any]
Stages = tuple[IngestResult, SplitResult, VerlResult]


def _run(tmp_path: Path, config: DataConfig) -> Stages:
    root = tmp_path / "artifacts"
    ingested = data_stage.ingest(fetch(config.source, tmp_path), config, root)
    split = data_stage.split(ingested, config, root)
    return ingested, split, data_stage.to_verl(split, config, root)


def _mtimes(directory: Path) -> dict[str, int]:
    return {p.relative_to(directory).as_posix(): p.stat().st_mtime_ns
            for p in directory.rglob("*") if p.is_file()}


def _config(path: Path, local_config: Callable[..., DataConfig], seed: int = 1) -> DataConfig:
    return local_config(path, split=SplitConfig(val_fraction=0.3, seed=seed))


@pytest.fixture
def source(write_rows: Callable[..., Path], make_pointwise_row: Callable[..., Row]) -> Path:
    return write_rows("rows.jsonl", [make_pointwise_row(i) for i in range(30)])


def test_second_run_reuses_every_stage_untouched(
    tmp_path: Path, source: Path, local_config: Callable[..., DataConfig]
) -> None:
    """Same inputs: same directories, same results, and no file rewritten."""
    config = _config(source, local_config)
    first = _run(tmp_path, config)
    for result in first:
        assert is_complete(result.dir)
        assert (result.dir / MANIFEST).is_file()
    before = {result.dir: _mtimes(result.dir) for result in first}
    assert all(len(files) >= 3 for files in before.values())
    second = _run(tmp_path, config)
    assert [r.dir for r in second] == [r.dir for r in first]
    assert second == first
    assert {result.dir: _mtimes(result.dir) for result in second} == before
    for stage in ("ingest", "split", "verl"):
        assert len(list((tmp_path / "artifacts" / stage).iterdir())) == 1


def test_changing_the_seed_recomputes_split_and_verl_only(
    tmp_path: Path, source: Path, local_config: Callable[..., DataConfig]
) -> None:
    """A new split seed keeps the ingest output and builds new split and verl outputs."""
    ingested, split, verl = _run(tmp_path, _config(source, local_config, seed=1))
    ingest_files = _mtimes(ingested.dir)
    old_split_files = _mtimes(split.dir)
    ingested2, split2, verl2 = _run(tmp_path, _config(source, local_config, seed=2))
    assert ingested2.dir == ingested.dir
    assert _mtimes(ingested.dir) == ingest_files
    assert split2.dir != split.dir
    assert verl2.dir != verl.dir
    assert _mtimes(split.dir) == old_split_files  # the old output is kept, not overwritten
    old_val = set(pq.read_table(split.val_path).column("unique_id").to_pylist())
    new_val = set(pq.read_table(split2.val_path).column("unique_id").to_pylist())
    assert old_val != new_val


def test_changing_validation_recomputes_ingest(
    tmp_path: Path, source: Path, local_config: Callable[..., DataConfig]
) -> None:
    """Validation bounds are part of the ingest key."""
    ingested, _, _ = _run(tmp_path, _config(source, local_config))
    stricter = local_config(source, split=SplitConfig(val_fraction=0.3, seed=1),
                            validation={"max_response_chars": 20})
    again = _run(tmp_path, stricter)[0]
    assert again.dir != ingested.dir
    assert again.quarantined_rows == again.source_rows == 30


@pytest.mark.parametrize("stage", ["ingest", "split", "verl"])
def test_deleted_output_is_rebuilt(
    tmp_path: Path, source: Path, local_config: Callable[..., DataConfig], stage: str
) -> None:
    """A missing file makes the output incomplete; the next run rebuilds the same content."""
    config = _config(source, local_config)
    results = dict(zip(("ingest", "split", "verl"), _run(tmp_path, config), strict=True))
    directory = results[stage].dir
    victim = next(p for p in sorted(directory.glob("*.parquet")))
    content = pq.read_table(victim)
    victim.unlink()
    assert not is_complete(directory)
    rebuilt = dict(zip(("ingest", "split", "verl"), _run(tmp_path, config), strict=True))
    assert rebuilt[stage].dir == directory
    assert is_complete(directory)
    assert pq.read_table(victim).equals(content)
    assert rebuilt == results


def test_damaged_output_is_incomplete(
    tmp_path: Path, source: Path, local_config: Callable[..., DataConfig]
) -> None:
    """A file whose size differs from the manifest, or a lost manifest, is not complete."""
    _, split, _ = _run(tmp_path, _config(source, local_config))
    with split.train_path.open("ab") as handle:
        handle.write(b"garbage")
    assert not is_complete(split.dir)
    (split.dir / MANIFEST).unlink()
    assert not is_complete(split.dir)
    with pytest.raises(FileNotFoundError):
        read_result(split.dir)


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir()) if parent.exists() else []


def test_atomic_dir_leaves_nothing_when_the_block_raises(tmp_path: Path) -> None:
    """A failing block leaves neither the target nor its temporary directory."""
    target = tmp_path / "stage" / "key"
    with pytest.raises(RuntimeError, match="boom"), atomic_dir(target) as building:
        (building / "part.parquet").write_bytes(b"half")
        assert building.parent == target.parent and building != target
        raise RuntimeError("boom")
    assert not target.exists()
    assert _leftovers(target.parent) == []


def test_atomic_dir_keeps_the_old_output_when_a_rebuild_fails(tmp_path: Path) -> None:
    """Rebuilding over a finished output that fails keeps the finished one as it was."""
    target = tmp_path / "stage" / "key"
    with atomic_dir(target) as building:
        (building / "data.txt").write_text("old", encoding="utf-8")
        finish(building, {"answer": 1})
    assert is_complete(target)
    with pytest.raises(ValueError), atomic_dir(target) as building:
        (building / "data.txt").write_text("new", encoding="utf-8")
        raise ValueError("half-way")
    assert (target / "data.txt").read_text(encoding="utf-8") == "old"
    assert read_result(target) == {"answer": 1}
    assert _leftovers(target.parent) == ["key"]


def test_stage_failing_mid_way_leaves_no_output(
    tmp_path: Path, source: Path, local_config: Callable[..., DataConfig]
) -> None:
    """ingest interrupted after writing its first batch leaves no directory at its final path,
    and the next run builds it completely."""
    config = local_config(source, batch_rows=10)
    fetched = fetch(config.source, tmp_path)
    root = tmp_path / "artifacts"
    batches: list[str] = []

    def interrupt(message: str) -> None:
        batches.append(message)
        if len(batches) == 2:
            raise KeyboardInterrupt("stopped by the user")

    with pytest.raises(KeyboardInterrupt):
        data_stage.ingest(fetched, config, root, progress=interrupt)
    target = root / "ingest" / data_stage.ingest_key(fetched, config)
    assert len(batches) == 2
    assert not target.exists()
    assert _leftovers(root / "ingest") == []
    result = data_stage.ingest(fetched, config, root)
    assert result.dir == target
    assert is_complete(target)
    assert result.sample_rows == 30


def test_stage_failing_on_bad_source_leaves_no_output(
    tmp_path: Path,
    write_rows: Callable[..., Path],
    make_pointwise_row: Callable[..., Row],
    local_config: Callable[..., DataConfig],
) -> None:
    """A source error raised inside ingest leaves no output directory either."""
    rows = [make_pointwise_row(i, helpfulness="n/a") for i in range(4)]
    config = local_config(write_rows("not_numeric.jsonl", rows))
    fetched = fetch(config.source, tmp_path)
    root = tmp_path / "artifacts"
    with pytest.raises(SourceError, match="'helpfulness' is not numeric"):
        data_stage.ingest(fetched, config, root)
    assert not (root / "ingest" / data_stage.ingest_key(fetched, config)).exists()
    assert _leftovers(root / "ingest") == []
