"""A private local Ray head (`LocalRayCluster`): own temp dir, ports and token, stopped by PID.

* Several people and pipelines share a host, so the head gets its own `--temp-dir`, ports
  and process session, is addressed explicitly (never via `/tmp/ray/ray_current_cluster`)
  and is stopped by PID - never with Ray's own stop command, which kills every Ray
  cluster on the host.
* Token authentication is on (`RAY_AUTH_MODE=token`): a random token in a 0600 file in
  the temp dir, named by `RAY_AUTH_TOKEN_PATH`, so it is in no command line, log or
  shared home-directory file. The head's processes (raylet, workers, job drivers)
  inherit both variables, so a job's `ray.init()` authenticates without help.
* Only the dashboard / job API honours `--dashboard-host 127.0.0.1`; GCS, raylet and
  object manager listen on all interfaces (Ray swaps a loopback node address for the
  host's on Linux): the token is what protects the cluster (Ray 2.60).
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import psutil
from ray.job_submission import JobSubmissionClient

from rm_core.cluster.jobs import (
    ADDRESS_OVERRIDE_VARS,
    AUTH_MODE_VAR,
    AUTH_TOKEN_PATH_VAR,
    AUTH_TOKEN_VAR,
    job_client,
    stop_unfinished_jobs,
)
from rm_core.cluster.ports import PORT_OPTIONS, free_port_range, free_ports
from rm_core.cluster.processes import alive, end, find, signal_process, tree, wait_gone
from rm_core.errors import RayUnavailable

__all__ = ["HeadRecord", "LocalRayCluster"]

log = logging.getLogger(__name__)


def _tail(path: Path, lines: int) -> list[str]:
    """Last `lines` lines of a text file (reads at most the last 64 KiB)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 65536))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]


@dataclass(frozen=True)
class HeadRecord:
    """What another process needs to address and stop a detached head: its session leader
    (pid and start time, which tells a reused PID apart), temp dir and ports."""

    pid: int
    start_time: float
    temp_dir: str
    ports: dict[str, int]
    worker_ports: tuple[int, int]

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "start_time": self.start_time, "temp_dir": self.temp_dir,
                "ports": dict(self.ports), "worker_ports": list(self.worker_ports)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HeadRecord:
        low, high = data["worker_ports"]
        return cls(pid=int(data["pid"]), start_time=float(data["start_time"]),
                   temp_dir=str(data["temp_dir"]),
                   ports={str(k): int(v) for k, v in data["ports"].items()},
                   worker_ports=(int(low), int(high)))


class _HeadExited(Exception):
    """Internal: the head died during start-up (worth one more try with new ports)."""

    def __init__(self, error: RayUnavailable) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(eq=False)
class LocalRayCluster:
    """A private single-node Ray head with token auth, stopped by PID (never Ray's own stop).

    Use as a context manager or call `start()` / `stop()`. `stop()` is also registered
    with `atexit`, but a SIGKILLed parent leaves the head running: it is a separate
    session on purpose (so Ctrl-C in a terminal does not half-kill it); find it with
    `ps -s <pid>`. A long-lived head (the local stack) is started, `detach()`ed into a
    `HeadRecord` kept in a file, and later stopped from another process through
    `LocalRayCluster.attach(record).stop()`.
    """

    num_cpus: int = 2
    startup_timeout_s: float = 90.0
    stop_grace_s: float = 15.0
    worker_port_count: int = 100
    # Extra environment for the head (and so for every worker and job driver).
    env: Mapping[str, str] = field(default_factory=dict)
    # Short on purpose: Ray's unix sockets live under it and paths are capped at 107 bytes.
    temp_root: str = "/tmp"
    start_attempts: int = 2
    # A fixed dashboard / job API port (a stable URL); None picks a free one.
    fixed_dashboard_port: int | None = None

    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    # The `ray start` process, started here or found again from a HeadRecord (None
    # if that one is gone: `_pid` still names it).
    _pid: int | None = field(default=None, init=False, repr=False)
    _leader: psutil.Process | None = field(default=None, init=False, repr=False)
    _temp_dir: Path | None = field(default=None, init=False, repr=False)
    _ports: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    _worker_ports: tuple[int, int] | None = field(default=None, init=False, repr=False)
    # Every head process seen so far: orphans are no longer the leader's descendants.
    _seen: set[psutil.Process] = field(default_factory=set, init=False, repr=False)

    # ---- public properties -------------------------------------------------------

    @property
    def pid(self) -> int:
        """PID of the `ray start --block` process (also its session / process group id)."""
        if self._pid is None:
            raise RuntimeError("cluster not started")
        return self._pid

    @property
    def temp_dir(self) -> Path:
        if self._temp_dir is None:
            raise RuntimeError("cluster not started")
        return self._temp_dir

    @property
    def ports(self) -> dict[str, int]:
        """The ports the head binds, by `ray start` option name."""
        return dict(self._ports)

    @property
    def worker_ports(self) -> tuple[int, int]:
        """First and last port of the head's workers (another node must avoid them)."""
        if self._worker_ports is None:
            raise RuntimeError("cluster not started")
        return self._worker_ports

    @property
    def dashboard_port(self) -> int:
        return self._ports["dashboard-port"]

    @property
    def dashboard_url(self) -> str:
        """The job API address to give `job_client` (loopback only)."""
        return f"http://127.0.0.1:{self.dashboard_port}"

    @property
    def gcs_address(self) -> str:
        """`host:port` for `ray.init(address=...)`, as the head advertises it.

        Read from the cluster's own temp dir: Ray replaces 127.0.0.1 with the host's
        address, so the port alone would not do.
        """
        current = self.temp_dir / "ray_current_cluster"
        if current.exists():
            text = current.read_text().strip()
            if text:
                return text
        return f"127.0.0.1:{self._ports['port']}"

    @property
    def token_path(self) -> Path:
        return self.temp_dir / "auth_token"

    @property
    def running(self) -> bool:
        if self._proc is not None:
            return self._proc.poll() is None
        return self._leader is not None and alive(self._leader)

    def auth_env(self) -> dict[str, str]:
        """Environment a client, driver or `ray.init()` process needs to authenticate.

        Holds the token file's path, not the token. `job_client(address, auth_env)` reads
        it; for `ray.init` put these in the environment of a process before it imports
        ray (Ray caches the auth mode at import). Job drivers on this cluster already
        inherit them from the head.
        """
        return {AUTH_MODE_VAR: "token", AUTH_TOKEN_PATH_VAR: str(self.token_path)}

    def client(self) -> JobSubmissionClient:
        """An authenticated job client for this cluster."""
        return job_client(self.dashboard_url, self.auth_env())

    # ---- lifecycle ---------------------------------------------------------------

    def __enter__(self) -> Self:
        if self._temp_dir is None:  # neither started nor attached
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Self:
        """Start the head and wait until its job API answers an authenticated request.

        Retries with fresh ports if the head dies while starting (another process may
        take a port between our check and Ray's bind). Raises `RayUnavailable` with the
        tail of Ray's own logs if it never becomes ready.
        """
        if self._temp_dir is not None:
            raise RuntimeError("cluster already started; stop() it first")
        last_error: RayUnavailable | None = None
        for attempt in range(1, self.start_attempts + 1):
            try:
                self._launch()
                self._wait_ready()
                atexit.register(self.stop)
                log.info("Ray head pid %s ready at %s (gcs %s)", self.pid,
                         self.dashboard_url, self.gcs_address)
                return self
            except _HeadExited as exc:
                last_error = exc.error
                log.warning("Ray head exited during start (attempt %d): %s", attempt, exc.error)
                self.stop()
            except BaseException:
                self.stop()
                raise
        assert last_error is not None
        raise last_error

    def _launch(self) -> None:
        self._temp_dir = Path(tempfile.mkdtemp(prefix="rmp-ray-", dir=self.temp_root))
        token_fd = os.open(self.token_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(token_fd, "w") as handle:
            # Same format as Ray's own generator (`ray get-auth-token --generate`).
            handle.write(secrets.token_hex(32))
        # One spare, in case the kernel offers the fixed dashboard port.
        fixed = self.fixed_dashboard_port
        chosen = [p for p in free_ports(len(PORT_OPTIONS) + 1) if p != fixed]
        self._ports = dict(zip(PORT_OPTIONS, chosen, strict=False))
        if fixed is not None:
            self._ports["dashboard-port"] = fixed
        base = free_port_range(self.worker_port_count, set(self._ports.values()))
        self._worker_ports = (base, base + self.worker_port_count - 1)
        cmd = [
            sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
            f"--temp-dir={self._temp_dir}",
            "--node-ip-address=127.0.0.1",
            "--dashboard-host=127.0.0.1",
            "--include-dashboard=true",
            f"--num-cpus={self.num_cpus}",
            f"--min-worker-port={self._worker_ports[0]}",
            f"--max-worker-port={self._worker_ports[1]}",
            "--disable-usage-stats",
            "--log-style=record",
            "--log-color=false",
            *(f"--{name}={port}" for name, port in self._ports.items()),
        ]
        env = dict(os.environ)
        # These would make Ray (and our own clients) talk to some other cluster.
        for name in (*ADDRESS_OVERRIDE_VARS, AUTH_TOKEN_VAR):
            env.pop(name, None)
        env.update(self.env)
        env.update(self.auth_env())
        env["RAY_USAGE_STATS_ENABLED"] = "0"
        # Job entrypoints say `python ...`: make that this interpreter's environment.
        bin_dir = str(Path(sys.executable).parent)
        env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
        with (self._temp_dir / "ray-start.log").open("wb") as out:
            self._proc = subprocess.Popen(
                cmd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        # Our child: its PID cannot be reused before we reap it.
        self._pid, self._leader = self._proc.pid, psutil.Process(self._proc.pid)

    def _log_report(self, lines: int = 15) -> str:
        """Tails of `ray start`'s output and of Ray's own process logs, for error messages."""
        if self._temp_dir is None:
            return ""
        parts = []
        files = [self._temp_dir / "ray-start.log"]
        logs = self._temp_dir / "session_latest" / "logs"
        files += [logs / name for name in ("gcs_server.err", "raylet.err", "dashboard.err",
                                           "dashboard.log")]
        for path in files:
            tail = _tail(path, lines)
            if tail:
                parts.append(f"--- {path} (last {len(tail)} lines) ---\n" + "\n".join(tail))
        return "\n".join(parts)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        last: BaseException | None = None
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise _HeadExited(RayUnavailable(
                    f"Ray head exited with code {self._proc.returncode} while starting "
                    f"(dashboard {self.dashboard_url}).\n{self._log_report()}"
                ))
            try:
                job_client(self.dashboard_url, self.auth_env()).list_jobs()
                # Written once `ray start` has finished; gcs_address reads it.
                if (self.temp_dir / "ray_current_cluster").exists():
                    return
            except (RayUnavailable, OSError, RuntimeError) as exc:
                last = exc
            time.sleep(0.5)
        raise RayUnavailable(
            f"Ray head pid {self.pid} not ready at {self.dashboard_url} after "
            f"{self.startup_timeout_s:.0f} s (last error: {last}).\n{self._log_report()}"
        )

    def detach(self) -> HeadRecord:
        """Leave the head running after this process exits; return what stops it later.

        This object no longer owns the head: `stop()` on it does nothing, and nothing
        stops the head at interpreter exit.
        """
        if self._proc is None or self._leader is None or not self.running:
            raise RuntimeError("cluster not running")
        assert self._temp_dir is not None and self._worker_ports is not None
        record = HeadRecord(pid=self._leader.pid, start_time=self._leader.create_time(),
                            temp_dir=str(self._temp_dir), ports=dict(self._ports),
                            worker_ports=self._worker_ports)
        atexit.unregister(self.stop)
        self._proc = self._pid = self._leader = self._temp_dir = None
        self._seen = set()
        return record

    @classmethod
    def attach(cls, record: HeadRecord, **settings: Any) -> LocalRayCluster:
        """A handle on a detached head, e.g. to `stop()` it from another process.

        If the recorded process is gone (or its PID now belongs to another process) the
        handle is not `running` and `stop()` only deletes the temp dir.
        """
        cluster = cls(**settings)
        cluster._pid, cluster._leader = record.pid, find(record.pid, record.start_time)
        cluster._temp_dir = Path(record.temp_dir)
        cluster._ports = dict(record.ports)
        cluster._worker_ports = record.worker_ports
        return cluster

    def processes(self) -> set[psutil.Process]:
        """Every live process of this head: its leader's tree, job drivers included, and
        any process seen before that outlived its parent."""
        if self._leader is None:
            return set()
        self._seen |= tree({self._leader, *self._seen})
        return tree(self._seen)

    def stop(self) -> None:
        """Stop running jobs, then every process of the head, then delete its temp dir.

        Jobs are stopped through the job API first: Ray runs each job driver in a session
        of its own, which would outlive the head. Then SIGTERM goes to the `ray start`
        process alone: it drains the node and stops its children in order (~3 s);
        signalling them all at once makes it wait ~30 s for a GCS that is already dying.
        Whatever is left (the processes seen before, and their descendants) gets SIGTERM,
        then SIGKILL: raylet/GCS sometimes ignore SIGTERM.
        """
        atexit.unregister(self.stop)
        leader = self._leader
        if leader is not None:
            self.processes()
            if self.running:
                if self.token_path.exists():
                    stop_unfinished_jobs(self.dashboard_url, self.auth_env())
                self.processes()
                signal_process(leader, signal.SIGTERM)
                if not self._wait_leader(self.stop_grace_s):
                    log.warning("Ray head pid %s ignored SIGTERM for %.0f s: killing",
                                leader.pid, self.stop_grace_s)
                    self.processes()
                    signal_process(leader, signal.SIGKILL)
                    self._wait_leader(self.stop_grace_s)
            left = tree(self._seen)
            if left:
                log.info("Ray head %s left %d processes: ending them", leader.pid, len(left))
                survivors = end(left)
                if survivors:
                    log.error("Ray head %s: processes %s survived SIGKILL", leader.pid,
                              sorted(proc.pid for proc in survivors))
            self._seen = set()
        self._proc = self._pid = self._leader = None
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    def _wait_leader(self, timeout_s: float) -> bool:
        """Wait for the `ray start` process to end (reaping it if it is our child)."""
        if self._proc is None:
            assert self._leader is not None
            return not wait_gone([self._leader], timeout_s)
        try:
            self._proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return False
        return True
