"""Run training as Ray jobs: a private local Ray head, authenticated job clients, and
submit / follow / fail-loudly helpers that survive task retries.

Why it looks like this (Ray 2.60, measured on the project's machines):

* Several people and pipelines share a host, so a cluster started here gets its own
  `--temp-dir`, its own ports and its own process session, is addressed explicitly
  (never through `/tmp/ray/ray_current_cluster`) and is stopped by PID - never with
  Ray's own stop command, which kills every Ray cluster on the host.
* Token authentication is switched on explicitly (`RAY_AUTH_MODE=token`). Ray reads the
  token from `RAY_AUTH_TOKEN` or from the file named by `RAY_AUTH_TOKEN_PATH` (else
  `~/.ray/auth_token`); we write our own random token to a 0600 file inside the
  cluster's temp dir and point `RAY_AUTH_TOKEN_PATH` at it, so the token is in no
  command line, no log and no shared home-directory file. Processes the head starts
  (raylet, workers, job drivers) inherit both variables, so a job's `ray.init()`
  authenticates without help. HTTP clients send `Authorization: Bearer <token>`.
* Only the dashboard / job API honours `--dashboard-host 127.0.0.1`. Ray swaps a
  loopback `--node-ip-address` for the host's address on Linux, and GCS, raylet and
  object manager listen on all interfaces: the token is what protects the cluster.

This module must stay free of Prefect: tasks wrap it, tests drive it directly.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from ray.exceptions import AuthenticationError
from ray.job_submission import JobStatus, JobSubmissionClient

from rm_core.errors import RayUnavailable, RmPipelineError

__all__ = [
    "HeadRecord",
    "JobFailed",
    "JobStatus",
    "JobTimeout",
    "LocalRayCluster",
    "RayAuthFailed",
    "RayUnavailable",
    "follow",
    "head_processes",
    "iter_metrics",
    "job_client",
    "parse_metrics",
    "raise_for_status",
    "start_time",
    "submit_or_attach",
]

log = logging.getLogger(__name__)

AUTH_MODE_VAR = "RAY_AUTH_MODE"
AUTH_TOKEN_VAR = "RAY_AUTH_TOKEN"
AUTH_TOKEN_PATH_VAR = "RAY_AUTH_TOKEN_PATH"
# JobSubmissionClient silently replaces an explicit address with these (like ray.init).
_ADDRESS_OVERRIDE_VARS = ("RAY_API_SERVER_ADDRESS", "RAY_ADDRESS")
TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED})


class RayAuthFailed(RmPipelineError):
    """The job API rejected our credentials: retrying will not help, the token is wrong."""


class JobFailed(RmPipelineError):
    """A Ray job ended FAILED or STOPPED; the message carries Ray's reason and the log tail."""

    def __init__(self, message: str, submission_id: str, status: JobStatus,
                 log_tail: list[str]) -> None:
        super().__init__(message)
        self.submission_id = submission_id
        self.status = status
        self.log_tail = log_tail


class JobTimeout(RmPipelineError):
    """A Ray job outlived its time budget and was stopped."""

    def __init__(self, message: str, submission_id: str, timeout_s: float,
                 status: JobStatus | None) -> None:
        super().__init__(message)
        self.submission_id = submission_id
        self.timeout_s = timeout_s
        self.status = status


# --------------------------------------------------------------------------- processes


_ProcKey = tuple[int, int]  # (pid, start time in clock ticks): tells a reused PID apart


def _proc_table() -> dict[int, tuple[int, int, int]]:
    """pid -> (ppid, sid, start time) of every live, non-zombie process, from /proc."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces and parentheses: split after the last ')'.
        fields = raw[raw.rfind(")") + 2:].split()
        if fields[0] in ("Z", "X"):
            continue
        table[int(entry)] = (int(fields[1]), int(fields[3]), int(fields[19]))
    return table


def start_time(pid: int) -> int | None:
    """Start time (clock ticks after boot) of a live process, None if it is gone or a zombie."""
    entry = _proc_table().get(pid)
    return None if entry is None else entry[2]


def head_processes(sid: int, known: Iterable[_ProcKey] = ()) -> set[_ProcKey]:
    """Live processes that belong to the head started as session leader `sid`.

    That is the session (`start_new_session=True` makes `ray start` its leader; GCS,
    raylet, dashboard, agents and workers keep its session id even in their own process
    groups), every descendant of those - Ray job drivers run in a session of their own
    under the job supervisor - and any process of `known` still alive, as orphans are
    re-parented to init once their parent dies.
    """
    table = _proc_table()
    found = {pid for pid, (_, psid, _) in table.items() if psid == sid}
    found |= {pid for pid, start in known if pid in table and table[pid][2] == start}
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    todo = list(found)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return {(pid, table[pid][2]) for pid in found}


def _signal_all(procs: Iterable[_ProcKey], sig: signal.Signals) -> None:
    for pid, _ in procs:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _wait_until(predicate: Callable[[], bool], timeout_s: float, step_s: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(step_s)


# --------------------------------------------------------------------------- ports


def _port_free(port: int) -> bool:
    """Bindable on all interfaces: Ray binds its core ports on 0.0.0.0 / ::."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("", port))
        except OSError:
            return False
    return True


def _free_ports(count: int) -> list[int]:
    """Distinct ports the kernel considers free right now (a race remains: see start())."""
    ports: set[int] = set()
    while len(ports) < count:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("", 0))
            ports.add(sock.getsockname()[1])
    return sorted(ports)


def _free_port_range(size: int, avoid: set[int], low: int = 12000, high: int = 32000) -> int:
    """First port of `size` consecutive free ports below the kernel's ephemeral range.

    Worker ports must be a range; staying under 32768 keeps outgoing connections
    (which get ephemeral ports) from grabbing them later.
    """
    for _ in range(200):
        base = random.randrange(low, high - size)
        span = range(base, base + size)
        if not avoid.intersection(span) and all(_port_free(p) for p in span):
            return base
    raise RayUnavailable(f"no {size} consecutive free ports between {low} and {high}")


# --------------------------------------------------------------------------- cluster


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


_PORT_OPTIONS = (
    "port",  # GCS
    "dashboard-port",
    "ray-client-server-port",
    "node-manager-port",
    "object-manager-port",
    "dashboard-agent-listen-port",
    "dashboard-agent-grpc-port",
    "metrics-export-port",
    "runtime-env-agent-port",
)


@dataclass(frozen=True)
class HeadRecord:
    """What another process needs to address and stop a detached head: its session leader
    (pid and start time, which tells a reused PID apart), temp dir and ports."""

    pid: int
    start_time: int
    temp_dir: str
    ports: dict[str, int]
    worker_ports: tuple[int, int]

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "start_time": self.start_time, "temp_dir": self.temp_dir,
                "ports": dict(self.ports), "worker_ports": list(self.worker_ports)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HeadRecord:
        low, high = data["worker_ports"]
        return cls(pid=int(data["pid"]), start_time=int(data["start_time"]),
                   temp_dir=str(data["temp_dir"]),
                   ports={str(k): int(v) for k, v in data["ports"].items()},
                   worker_ports=(int(low), int(high)))


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
    # The head's session leader when attached to a head another process started.
    _attached: tuple[int, int] | None = field(default=None, init=False, repr=False)
    _temp_dir: Path | None = field(default=None, init=False, repr=False)
    _ports: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    _worker_ports: tuple[int, int] | None = field(default=None, init=False, repr=False)
    _seen: set[tuple[int, int]] = field(default_factory=set, init=False, repr=False)

    # ---- public properties -------------------------------------------------------

    @property
    def pid(self) -> int:
        """PID of the `ray start --block` process (also its session / process group id)."""
        if self._proc is not None:
            return self._proc.pid
        if self._attached is not None:
            return self._attached[0]
        raise RuntimeError("cluster not started")

    @property
    def temp_dir(self) -> Path:
        if self._temp_dir is None:
            raise RuntimeError("cluster not started")
        return self._temp_dir

    @property
    def dashboard_port(self) -> int:
        return self._ports["dashboard-port"]

    @property
    def dashboard_url(self) -> str:
        """The job API address to give `job_client` (loopback only)."""
        return f"http://127.0.0.1:{self.dashboard_port}"

    @property
    def ports(self) -> dict[str, int]:
        """Every port we chose, by `ray start` option name (worker range excluded)."""
        return dict(self._ports)

    @property
    def worker_ports(self) -> tuple[int, int]:
        if self._worker_ports is None:
            raise RuntimeError("cluster not started")
        return self._worker_ports

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
        if self._attached is not None:
            pid, started = self._attached
            return start_time(pid) == started
        return False

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
        if self._proc is None and self._attached is None:
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
        if self._proc is not None or self._attached is not None:
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
        chosen = [p for p in _free_ports(len(_PORT_OPTIONS) + 1) if p != fixed]
        self._ports = dict(zip(_PORT_OPTIONS, chosen, strict=False))
        if fixed is not None:
            self._ports["dashboard-port"] = fixed
        base = _free_port_range(self.worker_port_count, set(self._ports.values()))
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
        for name in (*_ADDRESS_OVERRIDE_VARS, AUTH_TOKEN_VAR):
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
        if self._proc is None or not self.running:
            raise RuntimeError("cluster not running")
        started = start_time(self._proc.pid)
        assert started is not None and self._temp_dir is not None
        record = HeadRecord(pid=self._proc.pid, start_time=started,
                            temp_dir=str(self._temp_dir), ports=dict(self._ports),
                            worker_ports=self.worker_ports)
        atexit.unregister(self.stop)
        self._proc = None
        self._temp_dir = None
        self._seen = set()
        return record

    @classmethod
    def attach(cls, record: HeadRecord, **settings: Any) -> LocalRayCluster:
        """A handle on a detached head, e.g. to `stop()` it from another process."""
        cluster = cls(**settings)
        cluster._attached = (record.pid, record.start_time)
        cluster._temp_dir = Path(record.temp_dir)
        cluster._ports = dict(record.ports)
        cluster._worker_ports = record.worker_ports
        return cluster

    def processes(self) -> set[tuple[int, int]]:
        """(pid, start time) of every live process of this head, job drivers included."""
        if self._proc is None and self._attached is None:
            return set()
        return head_processes(self.pid, self._seen)

    def stop(self) -> None:
        """Stop running jobs, then every process of the head, then delete its temp dir.

        Jobs are stopped through the job API first: Ray runs each job driver in a session
        of its own, which would outlive the head. Then SIGTERM goes to the `ray start`
        process alone: it drains the node and stops its children in order (~3 s);
        signalling the whole group at once makes it wait ~30 s for a GCS that is already
        dying. Whatever is left (tracked by session, parentage and a snapshot taken
        before) gets SIGTERM, then SIGKILL: raylet/GCS sometimes ignore SIGTERM.
        """
        atexit.unregister(self.stop)
        if self._proc is not None or self._attached is not None:
            sid = self.pid
            self._seen |= head_processes(sid, self._seen)
            if self.running:
                self._stop_jobs()
                self._seen |= head_processes(sid, self._seen)
                self._signal_leader(signal.SIGTERM)
                if not self._wait_leader(self.stop_grace_s):
                    log.warning("Ray head pid %s ignored SIGTERM for %.0f s: killing", sid,
                                self.stop_grace_s)
                    self._seen |= head_processes(sid, self._seen)
                    self._signal_leader(signal.SIGKILL)
                    self._wait_leader(self.stop_grace_s)
            for sig in (signal.SIGTERM, signal.SIGKILL):
                left = head_processes(sid, self._seen)
                if not left:
                    break
                log.log(logging.INFO if sig == signal.SIGTERM else logging.WARNING,
                        "Ray head %s left %d processes: %s", sid, len(left), sig.name)
                self._seen |= left
                _signal_all(left, sig)
                _wait_until(lambda: not head_processes(sid, self._seen), 5.0)
            left = head_processes(sid, self._seen)
            if left:
                log.error("Ray head %s: processes %s survived SIGKILL", sid, sorted(left))
            self._proc = None
            self._attached = None
            self._seen = set()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    def _signal_leader(self, sig: signal.Signals) -> None:
        """Signal the `ray start` process alone (never a reused PID)."""
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def _wait_leader(self, timeout_s: float) -> bool:
        """Wait for the `ray start` process to end (reaping it if it is our child)."""
        if self._proc is None:
            return _wait_until(lambda: not self.running, timeout_s)
        try:
            self._proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return False
        return True

    def _stop_jobs(self, wait_s: float = 10.0) -> None:
        """Best effort: ask the job API to stop unfinished jobs and wait for them.

        Plain HTTP with timeouts (the SDK has none), so a hung dashboard cannot hang stop().
        """
        if not self._ports or self._temp_dir is None or not self.token_path.exists():
            return
        headers = _auth_headers(self.auth_env())

        def call(method: str, path: str) -> Any:
            request = urllib.request.Request(self.dashboard_url + path, method=method,
                                             headers=headers)
            with urllib.request.urlopen(request, timeout=5) as response:
                return json.loads(response.read() or b"null")

        def unfinished() -> list[str]:
            jobs = call("GET", "/api/jobs/")
            return [job["submission_id"] for job in jobs if job.get("submission_id")
                    and job.get("status") not in {s.value for s in TERMINAL}]

        try:
            running = unfinished()
            for submission_id in running:
                log.info("stopping Ray job %s before stopping the head", submission_id)
                call("POST", f"/api/jobs/{urllib.parse.quote(submission_id)}/stop")
            if running:
                _wait_until(lambda: not unfinished(), wait_s, step_s=0.5)
        except (OSError, ValueError) as exc:
            log.info("could not stop jobs through %s: %s", self.dashboard_url, exc)


class _HeadExited(Exception):
    """Internal: the head died during start-up (worth one more try with new ports)."""

    def __init__(self, error: RayUnavailable) -> None:
        super().__init__(str(error))
        self.error = error


# --------------------------------------------------------------------------- client


def _auth_headers(auth_env: Mapping[str, str]) -> dict[str, str]:
    token = auth_env.get(AUTH_TOKEN_VAR)
    if not token and auth_env.get(AUTH_TOKEN_PATH_VAR):
        token = Path(auth_env[AUTH_TOKEN_PATH_VAR]).read_text().strip()
    return {"Authorization": f"Bearer {token}"} if token else {}


def job_client(address: str, auth_env: Mapping[str, str] | None) -> JobSubmissionClient:
    """An authenticated `JobSubmissionClient` for the job API at `address`.

    The token (from `RAY_AUTH_TOKEN`, or the file named by `RAY_AUTH_TOKEN_PATH`, in
    `auth_env`) is sent as an explicit `Authorization: Bearer` header, so no process-wide
    Ray state or `~/.ray/auth_token` is involved. With `auth_env=None` Ray's own lookup
    in this process's environment applies. Raises `RayUnavailable` when nothing answers
    at `address`, `RayAuthFailed` when the token is missing or wrong.
    """
    for name in _ADDRESS_OVERRIDE_VARS:
        override = os.environ.get(name)
        if override and override.rstrip("/") != address.rstrip("/"):
            raise RayUnavailable(
                f"{name}={override} is set and Ray would use it instead of {address}; "
                f"unset it to talk to {address}"
            )
    try:
        headers = _auth_headers(auth_env) if auth_env else None
    except OSError as exc:  # token file gone: usually the cluster was stopped
        raise RayAuthFailed(f"cannot read the token for {address}: {exc}") from exc
    try:
        return JobSubmissionClient(address, headers=headers)
    except AuthenticationError as exc:
        raise RayAuthFailed(f"Ray job API at {address} rejected the request: "
                            f"{str(exc).splitlines()[0]}") from exc
    except (OSError, RuntimeError) as exc:
        raise RayUnavailable(f"Ray job API at {address} is unreachable: {exc}") from exc


# --------------------------------------------------------------------------- jobs

_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW|API_?KEY|ACCESS_?KEY|CREDENTIAL|AUTH", re.I)


def _check_no_secrets(entrypoint: str, runtime_env: Mapping[str, Any],
                      metadata: Mapping[str, str]) -> None:
    """Refuse a secret-looking env var value that also appears in entrypoint or metadata.

    Both are stored by Ray and shown in the dashboard, `ray job list` and our logs.
    """
    visible = entrypoint + "\n" + json.dumps(dict(metadata))
    for name, value in (runtime_env.get("env_vars") or {}).items():
        if _SECRET_NAME.search(name) and len(str(value)) >= 6 and str(value) in visible:
            raise ValueError(f"the value of secret env var {name} appears in the job's "
                             "entrypoint or metadata; pass it only via runtime_env env_vars")


def _is_missing(exc: RuntimeError) -> bool:
    return "404" in str(exc) or "does not exist" in str(exc)


def submit_or_attach(client: JobSubmissionClient, submission_id: str, entrypoint: str,
                     runtime_env: Mapping[str, Any] | None = None,
                     metadata: Mapping[str, str] | None = None) -> bool:
    """Submit a job under a deterministic id, or attach to the job that already has it.

    A retried task (or a restarted orchestrator) must not start a second training run on
    the same cluster, so the id comes from the task's inputs and an existing job with
    that id is reused: returns True if submitted, False if attached. Attaching to a job
    that already FAILED or was STOPPED just reports that outcome again (Ray does not
    support reusing a deleted job's id): include an attempt number in the id to run anew.

    Secrets belong in `runtime_env["env_vars"]` only. Entrypoint and metadata are stored
    in clear, shown by the dashboard and `ray job list` and end up in our logs; a
    secret-looking env var whose value appears in either is refused with ValueError.
    (The job API does return runtime_env, env_vars included, but only to token holders.)
    """
    runtime_env = dict(runtime_env or {})
    metadata = dict(metadata or {})
    bad = [k for k, v in metadata.items() if not (isinstance(k, str) and isinstance(v, str))]
    if bad:
        raise ValueError(f"Ray job metadata must map str to str; bad keys: {bad}")
    _check_no_secrets(entrypoint, runtime_env, metadata)
    try:
        existing = client.get_job_info(submission_id)
    except RuntimeError as exc:
        if not _is_missing(exc):
            raise
    else:
        _log_attach(submission_id, existing.status, existing.entrypoint, entrypoint)
        return False
    try:
        client.submit_job(entrypoint=entrypoint, submission_id=submission_id,
                          runtime_env=runtime_env, metadata=metadata)
    except RuntimeError as exc:
        if "already exists" not in str(exc):
            raise
        # Lost a race with another attempt between our lookup and our submit.
        existing = client.get_job_info(submission_id)
        _log_attach(submission_id, existing.status, existing.entrypoint, entrypoint)
        return False
    log.info("submitted Ray job %s", submission_id)
    return True


def _log_attach(submission_id: str, status: JobStatus, old: str | None, new: str) -> None:
    log.info("Ray job %s already exists (%s): attaching instead of submitting", submission_id,
             status)
    if old is not None and old != new:
        log.warning("Ray job %s was submitted with a different entrypoint; attaching anyway",
                    submission_id)


def follow(client: JobSubmissionClient, submission_id: str,
           on_lines: Callable[[list[str]], None],
           poll_seconds: Sequence[float] = (1, 2, 5, 10),
           timeout_s: float | None = None, max_errors: int = 5) -> JobStatus:
    """Stream a job's new log lines to `on_lines` until it ends; return its final status.

    Polls with backoff (back to the first interval whenever output arrives), hands over
    only complete lines (the last partial one once the job has ended), tolerates
    `max_errors` consecutive unreachable-API polls before raising `RayUnavailable`.
    After `timeout_s` the job is stopped and `JobTimeout` raised. Any exception or
    interrupt (KeyboardInterrupt, task cancellation, an error in `on_lines`) stops the
    job too: a training run nobody watches only burns the cluster. Callers that are
    cancelled by signal must turn SIGTERM into an exception for this to apply.
    """
    if not poll_seconds:
        raise ValueError("poll_seconds must not be empty")
    stream = _LogStream(client, submission_id, on_lines)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    status: JobStatus | None = None
    level = 0
    errors = 0
    try:
        while True:
            try:
                current = client.get_job_status(submission_id)
                got_output = stream.poll(final=current in TERMINAL)
                # Only now: a terminal status must not end the loop before its last log.
                status, errors = current, 0
            except OSError as exc:  # requests' connection errors are OSErrors
                errors += 1
                if errors >= max_errors:
                    raise RayUnavailable(f"lost the Ray job API while following "
                                         f"{submission_id}: {exc}") from exc
                log.warning("polling Ray job %s failed (%d/%d): %s", submission_id, errors,
                            max_errors, exc)
                got_output = False
            if status in TERMINAL:
                return status
            if deadline is not None and time.monotonic() >= deadline:
                assert timeout_s is not None
                final = _stop_and_wait(client, submission_id, stream)
                raise JobTimeout(f"Ray job {submission_id} exceeded {timeout_s:g} s and was "
                                 f"stopped (now {final})", submission_id, timeout_s, final)
            level = 0 if got_output else min(level + 1, len(poll_seconds) - 1)
            pause = poll_seconds[level]
            if deadline is not None:
                pause = max(0.0, min(pause, deadline - time.monotonic()))
            time.sleep(pause)
    except JobTimeout:
        raise
    except BaseException:
        if status not in TERMINAL:
            log.warning("stopping Ray job %s: its follower is going away", submission_id)
            with contextlib.suppress(Exception):
                client.stop_job(submission_id)
        raise


class _LogStream:
    """Incremental view of a job log: `get_job_logs` returns all of it every time."""

    def __init__(self, client: JobSubmissionClient, submission_id: str,
                 on_lines: Callable[[list[str]], None]) -> None:
        self.client = client
        self.submission_id = submission_id
        self.on_lines = on_lines
        self.offset = 0
        self.partial = ""

    def poll(self, final: bool = False) -> bool:
        """Emit the complete lines added since the last poll; True if there were any."""
        text = self.client.get_job_logs(self.submission_id)
        if len(text) < self.offset:  # the log was replaced: start over rather than lose it
            log.warning("log of Ray job %s shrank; re-reading it", self.submission_id)
            self.offset, self.partial = 0, ""
        chunk, self.offset = text[self.offset:], len(text)
        pieces = (self.partial + chunk).split("\n")
        self.partial = pieces.pop()
        if final and self.partial:
            pieces.append(self.partial)
            self.partial = ""
        lines = [piece.removesuffix("\r") for piece in pieces]
        if lines:
            self.on_lines(lines)
        return bool(lines)


def _stop_and_wait(client: JobSubmissionClient, submission_id: str, stream: _LogStream,
                   wait_s: float = 30.0) -> JobStatus | None:
    """Ask Ray to stop the job, wait for a terminal status, flush the remaining log."""
    client.stop_job(submission_id)
    status: JobStatus | None = None

    def ended() -> bool:
        nonlocal status
        status = client.get_job_status(submission_id)
        return status in TERMINAL

    _wait_until(ended, wait_s, step_s=0.5)
    with contextlib.suppress(Exception):
        stream.poll(final=status in TERMINAL)
    return status


def raise_for_status(client: JobSubmissionClient, submission_id: str, status: JobStatus,
                     tail_lines: int = 40) -> None:
    """Raise `JobFailed` unless `status` is SUCCEEDED, with Ray's reason and the log tail.

    "FAILED" alone sends people digging through the dashboard; the last lines of the
    job's own output usually hold the traceback.
    """
    if status == JobStatus.SUCCEEDED:
        return
    if status not in TERMINAL:
        raise ValueError(f"Ray job {submission_id} is still {status}; follow() it first")
    reason = ""
    with contextlib.suppress(Exception):
        info = client.get_job_info(submission_id)
        # Ray appends the last 20,000 characters of the log to its message: keep the
        # head line, the log tail follows below.
        reason = (info.message or "").split(", last available logs")[0].splitlines()[0][:500]
        if info.error_type:
            reason += f" [{info.error_type}]"
        if info.driver_exit_code is not None and f"code {info.driver_exit_code}" not in reason:
            reason += f" (exit code {info.driver_exit_code})"
    tail: list[str] = []
    with contextlib.suppress(Exception):
        tail = client.get_job_logs(submission_id).splitlines()[-tail_lines:]
    body = "\n".join(tail) if tail else "(no log output)"
    raise JobFailed(
        f"Ray job {submission_id} ended {status}: {reason or 'no reason given'}\n"
        f"--- last {len(tail)} log lines ---\n{body}",
        submission_id, status, tail,
    )


# --------------------------------------------------------------------------- metrics

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
# Ray prefixes forwarded worker output: "(TaskRunner pid=123)" or "(pid=7, ip=10.0.0.2)".
_RAY_PREFIX = re.compile(r"^\s*\([^()]*\bpid=\d+[^()]*\)\s*")
_RAY_REPEATED = re.compile(r"\s*\[repeated \d+x across cluster\].*$")
_STEP = re.compile(r"^step:\s*(\d+)(?:\s+-\s+|\s*$)")
# pprint of numpy scalars under numpy 2: "np.float64(0.5)".
_NP_SCALAR = re.compile(r"^np\.\w+\((.*)\)$")


def parse_metrics(line: str) -> dict[str, float] | None:
    """Metrics from one verl console line `step:N - key:value - ...`, else None.

    verl's console logger prints each training step this way; reading it back from the
    job log gives live metrics without a tracking server. Non-numeric values are
    skipped; colour codes, Ray's "(Actor pid=N)" prefix and dedup suffix are ignored.
    """
    text = _RAY_REPEATED.sub("", _RAY_PREFIX.sub("", _ANSI.sub("", line))).strip()
    match = _STEP.match(text)
    if match is None:
        return None
    metrics = {"step": float(match.group(1))}
    for part in text[match.end():].split(" - "):
        key, sep, raw = part.strip().partition(":")
        if not sep or not key:
            continue
        raw = raw.strip()
        scalar = _NP_SCALAR.match(raw)
        if scalar:
            raw = scalar.group(1)
        try:
            metrics[key.strip()] = float(raw)
        except ValueError:
            continue
    return metrics


def iter_metrics(lines: Iterable[str]) -> Iterator[dict[str, float]]:
    """The metric dicts among `lines` (e.g. a batch handed to `on_lines`)."""
    for line in lines:
        parsed = parse_metrics(line)
        if parsed is not None:
            yield parsed
