"""Where the local stack lives and what it is running: settings and the state file.

Settings come from command-line options, else environment variables, else defaults, so
tests and a second stack can run beside a developer's on other ports and directories.
The state file records every process `up` started (PID and start time), which is what
`status` and `down` act on: nothing is ever looked up by process name.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployments.processes import ProcessRecord
from rm_core.cluster.local_head import HeadRecord

REPO_ROOT = Path(__file__).resolve().parents[1]
STATE_DIR_VAR = "RM_STACK_DIR"
PREFECT_PORT_VAR = "RM_STACK_PREFECT_PORT"
RAY_PORT_VAR = "RM_STACK_RAY_PORT"
WORK_POOL = "local-process"


@dataclass(frozen=True)
class StackSettings:
    """Ports and directories of one stack."""

    state_dir: Path = REPO_ROOT / ".stack"
    prefect_port: int = 4200
    ray_port: int = 8265

    @classmethod
    def resolve(cls, state_dir: str | None = None, prefect_port: int | None = None,
                ray_port: int | None = None) -> StackSettings:
        """Options first, then RM_STACK_DIR / RM_STACK_PREFECT_PORT / RM_STACK_RAY_PORT."""
        env = os.environ
        chosen_dir = state_dir or env.get(STATE_DIR_VAR)
        return cls(
            state_dir=Path(chosen_dir).resolve() if chosen_dir else cls.state_dir,
            prefect_port=prefect_port or int(env.get(PREFECT_PORT_VAR) or cls.prefect_port),
            ray_port=ray_port or int(env.get(RAY_PORT_VAR) or cls.ray_port),
        )

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.prefect_port}"

    @property
    def api_url(self) -> str:
        return f"{self.ui_url}/api"

    @property
    def ray_url(self) -> str:
        return f"http://127.0.0.1:{self.ray_port}"

    @property
    def prefect_home(self) -> Path:
        return self.state_dir / "prefect"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def state_file(self) -> Path:
        return self.state_dir / "stack.json"

    def flow_run_url(self, flow_run_id: object) -> str:
        """The run's page in the UI Prefect opens by default (v2): the v1 page of
        Prefect 3.8.8 lists no task runs."""
        return f"{self.ui_url}/v2/runs/flow-run/{flow_run_id}"


@dataclass
class StackState:
    """The processes of a stack, as recorded by `up`."""

    prefect_port: int | None = None
    ray_port: int | None = None
    server: ProcessRecord | None = None
    ray: HeadRecord | None = None
    worker: ProcessRecord | None = None
    # What the worker was started with: a new Ray head needs a new worker.
    worker_env: dict[str, str] = field(default_factory=dict)
    worker_started_at: float | None = None
    # Fingerprint of the deployment sources last registered on this server.
    deployed: str | None = None

    @classmethod
    def load(cls, settings: StackSettings) -> StackState:
        if not settings.state_file.exists():
            return cls()
        raw: dict[str, Any] = json.loads(settings.state_file.read_text())
        return cls(
            prefect_port=raw.get("prefect_port"),
            ray_port=raw.get("ray_port"),
            server=ProcessRecord.from_json(raw["server"]) if raw.get("server") else None,
            ray=HeadRecord.from_json(raw["ray"]) if raw.get("ray") else None,
            worker=ProcessRecord.from_json(raw["worker"]) if raw.get("worker") else None,
            worker_env=dict(raw.get("worker_env") or {}),
            worker_started_at=raw.get("worker_started_at"),
            deployed=raw.get("deployed"),
        )

    def save(self, settings: StackSettings) -> None:
        """Write atomically: a crash mid-write must not lose the PIDs of running processes."""
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        raw = {
            "prefect_port": self.prefect_port,
            "ray_port": self.ray_port,
            "server": self.server.to_json() if self.server else None,
            "ray": self.ray.to_json() if self.ray else None,
            "worker": self.worker.to_json() if self.worker else None,
            "worker_env": self.worker_env,
            "worker_started_at": self.worker_started_at,
            "deployed": self.deployed,
        }
        tmp = settings.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(raw, indent=2))
        tmp.replace(settings.state_file)

    @property
    def empty(self) -> bool:
        return self.server is None and self.ray is None and self.worker is None
