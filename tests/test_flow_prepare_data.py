"""The prepare-data flow under a real Prefect test harness: results, caching, artifacts."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from uuid import UUID

import pyarrow.parquet as pq
import pytest
import yaml
from conftest import wait_for
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect_events import asset_graph

from flows.prepare_data import DEFAULT_CONFIG, main, prepare_data, resolve_config
from rm_core.config import SAMPLE_FILES, SourceConfig
from tasks.data import fetch_source

STAGES = ("fetch-source", "validate-and-convert", "split-train-val", "build-verl-rows")


pytestmark = pytest.mark.usefixtures("prefect_harness")


def task_states(flow_run_id: UUID) -> dict[str, str]:
    """Task name (without Prefect's run suffix) -> state name, read back from the server."""

    async def read() -> dict[str, str]:
        async with get_client() as client:
            runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
        return {run.name.rsplit("-", 1)[0]: run.state.name for run in runs
                if not run.name.startswith("asset-")}

    return asyncio.run(read())


def artifact_keys(flow_run_id: UUID) -> set[str]:
    """Keys of the artifacts a flow run created."""

    async def read() -> set[str]:
        async with get_client() as client:
            artifacts = await client.read_artifacts(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
        return {artifact.key for artifact in artifacts if artifact.key}

    return asyncio.run(read())


def run(config: Path | str, artifacts: Path):
    """Run the flow, returning (final state, task states)."""
    state = prepare_data(str(config), str(artifacts), return_state=True)
    return state, task_states(state.state_details.flow_run_id)


def file_times(root: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def write_config(path: Path, source: dict, seed: int = 42, max_bad: float = 0.05) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "name": "test",
                "data": {
                    "source": source,
                    "validation": {"max_bad_fraction": max_bad},
                    "split": {"val_fraction": 0.2, "seed": seed},
                },
            }
        )
    )
    return path


def test_second_run_is_fully_cached_and_writes_nothing(tmp_path: Path) -> None:
    first, states = run(DEFAULT_CONFIG, tmp_path)
    assert first.is_completed()
    assert states == dict.fromkeys(STAGES, "Completed")
    assert {"validation-report", "split-report", "split-label-counts"} <= artifact_keys(
        first.state_details.flow_run_id
    )
    result = first.result()
    rows = pq.read_table(result.train_path).num_rows + pq.read_table(result.val_path).num_rows
    assert rows == result.train_rows + result.val_rows > 0
    before = file_times(tmp_path)

    second, states = run(DEFAULT_CONFIG, tmp_path)
    assert states == dict.fromkeys(STAGES, "Cached")
    assert second.result().train_path == result.train_path
    assert file_times(tmp_path) == before


def test_the_verl_dataset_is_an_asset_made_from_the_source(tmp_path: Path) -> None:
    state, _ = run(DEFAULT_CONFIG, tmp_path)
    verl = state.result()
    graph = wait_for(lambda: asset_graph(tmp_path), timeout_s=60)
    assert graph == {f"file://{verl.dir}": {f"file://{SAMPLE_FILES['helpsteer2']}"}}


def test_changed_split_seed_recomputes_only_split_and_verl(tmp_path: Path) -> None:
    source = {"kind": "sample", "name": "helpsteer2"}
    run(write_config(tmp_path / "a.yaml", source, seed=1), tmp_path / "art")
    _, states = run(write_config(tmp_path / "b.yaml", source, seed=2), tmp_path / "art")
    assert states == {
        "fetch-source": "Cached",
        "validate-and-convert": "Cached",
        "split-train-val": "Completed",
        "build-verl-rows": "Completed",
    }


def test_deleted_output_is_recomputed_not_reported_cached(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", {"kind": "sample", "name": "helpsteer2"})
    first, _ = run(config, tmp_path / "art")
    val = first.result().val_path
    val.unlink()
    _, states = run(config, tmp_path / "art")
    assert states["build-verl-rows"] == "Completed"
    assert states["split-train-val"] == "Cached"
    assert val.is_file()
    _, states = run(config, tmp_path / "art")
    assert states["build-verl-rows"] == "Cached"


def test_every_row_ends_in_train_val_or_quarantine(tmp_path: Path) -> None:
    rows = [json.loads(line) for line in SAMPLE_FILES["helpsteer2"].read_text().splitlines()]
    rows[0]["helpfulness"] = 7
    rows[1]["response"] = ""
    rows[2]["prompt"] = [{"role": "bot", "content": "hi"}]
    rows.append(dict(rows[5]))
    source = tmp_path / "rows.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = write_config(tmp_path / "d.yaml", {"kind": "local", "path": str(source)})
    state, _ = run(config, tmp_path / "art")
    ingested = next((tmp_path / "art" / "ingest").iterdir())
    quarantine = pq.read_table(ingested / "quarantine.parquet").to_pylist()
    reasons = {row["source_row"]: row["reason"] for row in quarantine}
    assert set(reasons) == {0, 1, 2, len(rows) - 1}
    assert "helpfulness=7" in reasons[0] and "response has 0" in reasons[1]
    assert "'bot'" in reasons[2] and "duplicate of source row 5" in reasons[len(rows) - 1]
    result = state.result()
    assert result.train_rows + result.val_rows + len(quarantine) == len(rows)


def test_too_many_bad_rows_fail_the_run_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = SAMPLE_FILES["helpsteer2"].read_text().splitlines()[:40]
    rows = [json.loads(line) for line in lines]
    for row in rows[:10]:
        row["helpfulness"] = 2.5
    source = tmp_path / "bad.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = write_config(tmp_path / "e.yaml", {"kind": "local", "path": str(source)})
    assert main([str(config), "--artifacts-dir", str(tmp_path / "art")]) == 1
    message = capsys.readouterr().err
    assert "10 of 40 rows (25.0%) failed validation" in message
    assert "quarantine.parquet" in message
    quarantine = next((tmp_path / "art" / "ingest").glob("*/quarantine.parquet"))
    assert pq.read_table(quarantine).num_rows == 10


def test_missing_source_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere.jsonl"
    config = write_config(tmp_path / "f.yaml", {"kind": "local", "path": str(missing)})
    assert main([str(config), "--artifacts-dir", str(tmp_path / "art")]) == 1
    assert f"source file not found: {missing}" in capsys.readouterr().err


def test_relative_config_path_resolves_from_the_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/")
    assert resolve_config(DEFAULT_CONFIG).is_file()


@flow
def fetch_once(source: SourceConfig, root: Path) -> None:
    """The fetch task alone, with its retry policy but no waits between attempts."""
    fetch_source.with_options(retry_delay_seconds=0)(source, root)


def fetch_attempts(flow_run_id: UUID) -> list[tuple[int, str]]:
    """(run_count, final state) of each task run of the flow run."""

    async def read() -> list[tuple[int, str]]:
        in_run = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        async with get_client() as client:
            runs = await client.read_task_runs(flow_run_filter=in_run)
        return [(run.run_count, run.state.name) for run in runs]

    return asyncio.run(read())


@pytest.mark.parametrize(("error", "attempts"), [
    ("not found", 1),
    ("unreachable", 4),
])
def test_fetch_retries_an_unreachable_hub_but_not_a_misspelt_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: str, attempts: int
) -> None:
    import datasets
    from datasets.exceptions import DatasetNotFoundError

    raised = {
        "not found": DatasetNotFoundError(
            "Dataset 'nvidia/HelpStere2' doesn't exist on the Hub or cannot be accessed."),
        "unreachable": ConnectionError(
            "Couldn't reach 'nvidia/HelpStere2' on the Hub (LocalEntryNotFoundError)"),
    }[error]
    calls = []

    def load_dataset(name: str, **kwargs: Any) -> None:
        calls.append(name)
        raise raised

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    source = SourceConfig(kind="huggingface", name="nvidia/HelpStere2")
    state = fetch_once(source, tmp_path, return_state=True)
    assert state.is_failed()
    assert len(calls) == attempts
    assert fetch_attempts(state.state_details.flow_run_id) == [(attempts, "Failed")]
