"""The Prefect side of the local stack: server and worker commands, health, deployments.

Every Prefect process of the stack gets the same PREFECT_HOME (under the state dir) and
an explicit PREFECT_API_URL, so a developer's own Prefect profile is never used or
changed, and PYTHONPATH starts with the repository, so flow runs import this checkout.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.exceptions import ObjectNotFound

from deployments.state import REPO_ROOT, WORK_POOL, StackSettings

PREFECT_FILE = REPO_ROOT / "deployments" / "prefect.yaml"
# How often the worker asks for runs (Prefect's default, 10 s, makes every run wait).
WORKER_QUERY_SECONDS = "5"


class StackError(RuntimeError):
    """The stack cannot be brought up, or is not in the state asked for."""


def prefect_env(settings: StackSettings, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment of a Prefect process of this stack."""
    env = dict(os.environ)
    env.update({
        "PREFECT_HOME": str(settings.prefect_home),
        "PREFECT_API_URL": settings.api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PYTHONPATH": os.pathsep.join(
            [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    })
    env.update(extra or {})
    return env


def prefect_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "prefect", *args]


def server_cmd(settings: StackSettings) -> list[str]:
    return prefect_cmd("server", "start", "--host", "127.0.0.1",
                       "--port", str(settings.prefect_port))


def worker_name(settings: StackSettings) -> str:
    return f"rm-stack-{settings.prefect_port}"


def worker_cmd(settings: StackSettings) -> list[str]:
    return prefect_cmd("worker", "start", "--pool", WORK_POOL, "--type", "process",
                       "--name", worker_name(settings))


def server_healthy(settings: StackSettings, timeout_s: float = 3.0) -> bool:
    """`GET /api/health` answers true (a UI path would 404 without Accept: text/html)."""
    try:
        with urllib.request.urlopen(f"{settings.api_url}/health", timeout=timeout_s) as resp:
            return resp.status == 200 and resp.read().strip() == b"true"
    except (OSError, urllib.error.URLError):
        return False


def _client(settings: StackSettings) -> SyncPrefectClient:
    return SyncPrefectClient(settings.api_url)


def ensure_work_pool(settings: StackSettings) -> bool:
    """Create the process work pool unless it exists; True if created."""
    with _client(settings) as client:
        try:
            client.read_work_pool(WORK_POOL)
            return False
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name=WORK_POOL, type="process"))
            return True


def worker_online(settings: StackSettings, since: float) -> bool:
    """The stack's worker sent a heartbeat after `since` (a wall-clock time)."""
    with _client(settings) as client:
        workers = client.read_workers_for_work_pool(WORK_POOL)
    for worker in workers:
        beat: datetime | None = worker.last_heartbeat_time
        if worker.name == worker_name(settings) and beat is not None:
            return beat.timestamp() >= since and str(worker.status.value) == "ONLINE"
    return False


def deploy_fingerprint() -> str:
    """Hash of what `prefect deploy` reads: prefect.yaml, the flows, the nightly cron."""
    digest = hashlib.sha256(str(REPO_ROOT).encode())
    digest.update(os.environ.get("RM_NIGHTLY_CRON", "").encode())
    for path in [PREFECT_FILE, *sorted((REPO_ROOT / "flows").glob("*.py"))]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def deploy(settings: StackSettings) -> None:
    """Register every deployment of prefect.yaml (from the repository root)."""
    cmd = prefect_cmd("--no-prompt", "deploy", "--all", "--prefect-file",
                      str(PREFECT_FILE.relative_to(REPO_ROOT)))
    done = subprocess.run(cmd, cwd=REPO_ROOT, env=prefect_env(settings), text=True,
                          capture_output=True, check=False)
    if done.returncode != 0:
        raise StackError(f"`prefect deploy` failed (exit {done.returncode}):\n"
                         f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


@dataclass(frozen=True)
class DeploymentInfo:
    """A registered deployment as `status` shows it."""

    name: str  # flow/deployment
    schedules: tuple[str, ...]  # "cron 0 2 * * * (UTC)"
    id: str


def list_deployments(settings: StackSettings) -> list[DeploymentInfo]:
    with _client(settings) as client:
        flows = {flow.id: flow.name for flow in client.read_flows()}
        found = []
        for dep in client.read_deployments():
            schedules = []
            for item in dep.schedules:
                cron = getattr(item.schedule, "cron", None)
                tz = getattr(item.schedule, "timezone", None)
                text = f"cron {cron} ({tz})" if cron else str(item.schedule)
                schedules.append(text if item.active else f"{text} [paused]")
            found.append(DeploymentInfo(f"{flows.get(dep.flow_id, '?')}/{dep.name}",
                                        tuple(schedules), str(dep.id)))
    return sorted(found, key=lambda dep: dep.name)


def log_tail(path: Path, lines: int = 30) -> str:
    """The end of a component's log, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
