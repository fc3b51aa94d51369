"""The local stack on PostgreSQL instead of SQLite: a real server from Debian's package
(started here on a free loopback port, stopped by PID), the stack brought up on it with
`--database-url`, the same checks as on SQLite: deployments, nightly schedule, a run."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from conftest import free_port, stack_cli, wait_for
from prefect.client.orchestration import SyncPrefectClient
from test_stack import nightly_runs_scheduled_at_two_utc, options

from deployments.state import StackSettings


def postgres_bin() -> Path | None:
    """Debian's server binaries (`apt-get install postgresql`)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    return Path(found[-1]).parent if found else None


def as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run it as Debian's `postgres` user then."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    bindir = postgres_bin()
    if bindir is None:
        pytest.fail("PostgreSQL is not installed: apt-get install postgresql (.ci/run does)")
    root = Path(tempfile.mkdtemp(prefix="rmp-pg-"))
    root.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", free_port()
    subprocess.run(as_postgres([str(bindir / "initdb"), "-D", str(data), "-A", "trust",
                                "-U", "prefect"]), check=True, capture_output=True)
    server = subprocess.Popen(
        as_postgres([str(bindir / "postgres"), "-D", str(data), "-p", str(port),
                     "-c", "listen_addresses=127.0.0.1", "-k", str(root)]),
        stdout=subprocess.DEVNULL, stderr=(root / "server.log").open("w"))
    try:
        ready = wait_for(lambda: subprocess.run(
            [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
            capture_output=True).returncode == 0, timeout_s=60)
        assert ready, (root / "server.log").read_text()
        subprocess.run(as_postgres([str(bindir / "createdb"), "-h", "127.0.0.1", "-p",
                                    str(port), "-U", "prefect", "prefect"]), check=True)
        yield f"postgresql+asyncpg://prefect@127.0.0.1:{port}/prefect"
    finally:
        tree = psutil.Process(server.pid)
        processes = [tree, *tree.children(recursive=True)]
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.terminate()
        _, alive = psutil.wait_procs(processes, timeout=30)
        for process in alive:
            process.kill()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[StackSettings]:
    settings = StackSettings(tmp_path_factory.mktemp("pg-stack"), free_port(), free_port())
    try:
        up = stack_cli("stack", "up", *options(settings), "--database-url", database_url)
        assert up.returncode == 0, up.stdout + up.stderr
        yield settings
    finally:
        down = stack_cli("stack", "down", *options(settings))
        assert down.returncode == 0, down.stdout + down.stderr


def test_the_server_keeps_its_state_in_postgres(stack: StackSettings, database_url: str
                                                ) -> None:
    assert not list(stack.prefect_home.glob("*.db")), "the server wrote a SQLite database"
    with SyncPrefectClient(stack.api_url) as client:
        deployments = client.read_deployments()
    assert {"manual", "nightly"} <= {deployment.name for deployment in deployments}
    port = database_url.rsplit(":", 1)[1].split("/")[0]
    bindir = postgres_bin()
    assert bindir is not None
    tables = subprocess.run(
        [str(bindir / "psql"), "-h", "127.0.0.1", "-p", port, "-U", "prefect", "-d", "prefect",
         "-Atc", "select count(*) from deployment"], capture_output=True, text=True, check=True)
    assert int(tables.stdout) == len(deployments)


def test_the_nightly_schedule_creates_runs(stack: StackSettings) -> None:
    nightly_runs_scheduled_at_two_utc(stack)


def test_a_deployment_runs_through_the_worker(stack: StackSettings, tmp_path: Path) -> None:
    done = stack_cli("run", "--deployment", "prepare-data/manual",
                     "--artifacts-dir", str(tmp_path / "art"), *options(stack), timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert f"[run] flow run: {stack.ui_url}/v2/runs/flow-run/" in done.stdout
