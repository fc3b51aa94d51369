"""Shared fixtures: HelpSteer2-style rows written as jsonl/json/parquet files into tmp_path,
the Prefect test harness, a real two-node Ray cluster, and a real local stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ray_nodes import TwoNodes, two_node_cluster

from rm_core.cluster.local_head import LocalRayCluster
from rm_core.cluster.processes import alive
from rm_core.config import (
    HELPSTEER2_ATTRIBUTES,
    REPO_ROOT,
    DataConfig,
    SourceConfig,
    TemplateConfig,
)
from rm_core.data import stage as data_stage
from rm_core.data.sources import fetch
from rm_core.embedded_models import build_tiny_qwen2

if TYPE_CHECKING:
    from deployments.state import StackSettings

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

Row = dict[str, Any]
WriteRows = Callable[..., Path]


def pointwise_row(index: int, score: int | None = None, **changes: Any) -> Row:
    """A valid HelpSteer2 attribute row; labels derive from `index` unless `score` is given."""
    base = index % 5 if score is None else score
    row: Row = {
        "prompt": f"Question number {index}: how do I sort a list in Python?",
        "response": f"Answer {index}: use sorted(items) or items.sort().",
    }
    for offset, name in enumerate(HELPSTEER2_ATTRIBUTES):
        row[name] = (base + offset) % 5
    row.update(changes)
    return row


def preference_row(index: int, strength: int, **changes: Any) -> Row:
    """A valid HelpSteer2 preference row."""
    row: Row = {
        "prompt": f"Preference prompt {index}",
        "response_1": f"first answer {index}",
        "response_2": f"second answer {index}",
        "preference_strength": strength,
    }
    row.update(changes)
    return row


def _write(path: Path, rows: list[Row]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        lines = [row if isinstance(row, str) else json.dumps(row, ensure_ascii=False)
                 for row in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    elif suffix == ".json":
        path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    elif suffix in (".parquet", ".pq"):
        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        path.write_bytes(b"".join(json.dumps(row).encode() + b"\n" for row in rows))
    return path


@pytest.fixture
def write_rows(tmp_path: Path) -> WriteRows:
    """`write_rows(name, rows)`: write rows (dicts, or raw strings for jsonl) to a file.

    A relative `name` lands under tmp_path/sources, an absolute path is used as is. The
    format follows the extension: .jsonl, .json (an array), .parquet/.pq; any other
    extension gets jsonl bytes.
    """

    def write(name: str | Path, rows: list[Row]) -> Path:
        return _write(tmp_path / "sources" / name, rows)

    return write


def _local_config(path: Path, **changes: Any) -> DataConfig:
    columns = changes.pop("columns", {})
    source = SourceConfig(kind="local", path=path, columns=columns)
    return DataConfig(source=source, **changes)


@pytest.fixture
def make_pointwise_row() -> Callable[..., Row]:
    """`make_pointwise_row(index, score=None, **changes)`: one valid attribute row."""
    return pointwise_row


@pytest.fixture
def make_preference_row() -> Callable[..., Row]:
    """`make_preference_row(index, strength, **changes)`: one valid preference row."""
    return preference_row


@pytest.fixture
def local_config() -> Callable[..., DataConfig]:
    """`local_config(path, columns=..., **data_changes)`: a DataConfig reading `path`."""
    return _local_config


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One real (temporary) Prefect server for the whole session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalRayCluster]:
    """A private local Ray head for the module's real training jobs."""
    with LocalRayCluster(num_cpus=2) as head:
        yield head


# CPUs of the joined node: a verl run takes two (its TaskRunner and one FSDP worker bundle).
TWO_NODE_CPUS = 2


@pytest.fixture(scope="session")
def two_nodes() -> Iterator[TwoNodes]:
    """A CPU-less head plus a joined `model_node` with `TWO_NODE_CPUS` CPUs, shared by the
    session (~15 s to start); teardown checks that no process of either node survived."""
    with pytest.MonkeyPatch.context() as mp:
        # Would redirect every JobSubmissionClient to some other cluster.
        mp.delenv("RAY_ADDRESS", raising=False)
        mp.delenv("RAY_API_SERVER_ADDRESS", raising=False)
        seen: list[psutil.Process] = []
        with two_node_cluster(worker_cpus=TWO_NODE_CPUS, resources={"model_node": 1}) as nodes:
            yield nodes
            seen = nodes.node.processes() + list(nodes.head.processes())
        assert seen, "the cluster had no processes?"
        left = [p.pid for p in seen if alive(p)]
        assert not left, f"cluster processes survived teardown: {left}"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """verl rows of the embedded sample and a tiny random Qwen2."""
    root = tmp_path_factory.mktemp("training")
    data = DataConfig(template=TemplateConfig(answer_prefix="<score>"))
    ingested = data_stage.ingest(fetch(data.source, root), data, root)
    verl = data_stage.to_verl(data_stage.split(ingested, data, root), data, root)
    return {"root": root, "data": data, "verl": verl,
            "model": build_tiny_qwen2(root / "tiny-qwen2")}


def free_port() -> int:
    """A port nothing listens on now, on all interfaces."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


def stack_cli(module: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """`python -m deployments.<module> ARGS` as a user runs it, output captured."""
    return subprocess.run([sys.executable, "-m", f"deployments.{module}", *args],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout,
                          check=False)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackSettings]:
    """A real local stack on free ports in a temp state dir (never a developer's 4200),
    brought down at the end of the module whatever happened."""
    from deployments.state import StackSettings

    settings = StackSettings(tmp_path_factory.mktemp("stack"), free_port(), free_port())
    options = ["--state-dir", str(settings.state_dir), "--prefect-port",
               str(settings.prefect_port), "--ray-port", str(settings.ray_port)]
    try:
        up = stack_cli("stack", "up", *options)
        assert up.returncode == 0, up.stdout + up.stderr
        yield settings
    finally:
        down = stack_cli("stack", "down", *options)
        assert down.returncode == 0, down.stdout + down.stderr


def wait_for(probe: Callable[[], Any], timeout_s: float) -> Any:
    """The first truthy value `probe` returns within `timeout_s`, else None."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := probe():
            return value
        time.sleep(1)
    return None
