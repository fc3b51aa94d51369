"""A two-node Ray cluster on one machine, for tests of placement across nodes.

The head is rm_core's private `LocalRayCluster` started with no CPUs, so nothing that
needs a CPU can run on it; a second node joins it with CPUs and a custom resource, the
way a GPU node would join a real cluster. Both are stopped by PID, never with Ray's own
stop command.

What one machine changes (Ray 2.60, measured here):

* Every port of the joined node is chosen explicitly. With the defaults its dashboard
  agent wants 52365; if anything else holds it the agent runs without its HTTP server,
  jobs on that node still succeed, but Ray records their agent as `http://<ip>:-1` and
  `get_job_logs` answers HTTP 500.
* The joined node shares the head's `--temp-dir`. Ray accepts one of its own, but any
  `ray.init()` on a host where several nodes share the IP attaches to the head's raylet
  and takes its temp dir: the joined node's dashboard agent then reads driver logs from
  the head's session dir, and `get_job_logs` silently returns only the head's
  "Runtime env is setting up." line. A job driver that calls `ray.init()` on the joined
  node is likewise attached to the head's raylet here (not on a real cluster); its tasks
  and actors still run wherever their resources are.
* Sharing the temp dir, both nodes' log monitors tail the same session `logs/` dir, so a
  driver hears every line of its tasks and actors twice (a verl job's monitor counts
  each step twice); a job's own output, which Ray's job log holds, is not doubled.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from rm_core.cluster.local_head import LocalRayCluster
from rm_core.cluster.ports import PORT_OPTIONS, free_port_range, free_ports
from rm_core.cluster.processes import alive

# Ports a non-head node binds, by `ray start` option name (the others are head-only).
NODE_PORT_OPTIONS = tuple(option for option in PORT_OPTIONS if option not in
                          ("port", "dashboard-port", "ray-client-server-port"))
# Would point Ray at some other cluster, or override the token file.
_FOREIGN_VARS = ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS", "RAY_AUTH_TOKEN")


def _head_ports(head: LocalRayCluster) -> set[int]:
    low, high = head.worker_ports
    return set(head.ports.values()) | set(range(low, high + 1))


def api_get(head: LocalRayCluster, path: str, timeout_s: float = 10) -> Any:
    """GET `path` from the head's dashboard with its bearer token; the parsed JSON."""
    token = head.token_path.read_text().strip()
    request = urllib.request.Request(head.dashboard_url + path,
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return json.loads(response.read())


def list_nodes(head: LocalRayCluster) -> list[dict[str, Any]]:
    """Every node the head knows (state API `/api/v0/nodes`), dead ones included."""
    body = api_get(head, "/api/v0/nodes?detail=1")
    return body["data"]["result"]["result"]


def alive_nodes(head: LocalRayCluster) -> list[dict[str, Any]]:
    return [node for node in list_nodes(head) if node["state"] == "ALIVE"]


@dataclass(eq=False)
class JoinedNode:
    """A non-head Ray node started here with `ray start --address ... --block`.

    Started in a session of its own with its own ports and worker-port range, inside the
    head's temp dir (see the module doc); `stop()` signals only the processes of that
    `ray start` (its tree and its session).
    """

    head: LocalRayCluster
    num_cpus: int = 2
    resources: Mapping[str, float] = field(default_factory=dict)
    worker_port_count: int = 50
    stop_grace_s: float = 15.0

    name: str = field(default_factory=lambda: f"rmp-node-{secrets.token_hex(4)}")

    proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    ports: dict[str, int] = field(default_factory=dict, init=False)
    worker_ports: tuple[int, int] | None = field(default=None, init=False)
    command: list[str] = field(default_factory=list, init=False, repr=False)

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("node not started")
        return self.proc.pid

    @property
    def log_path(self) -> Path:
        """Output of `ray start` (Ray's own logs are in the head's session dir)."""
        return self.head.temp_dir / f"{self.name}-start.log"

    def start(self) -> JoinedNode:
        """Launch the node; returns at once (see `wait_registered`)."""
        if self.proc is not None:
            raise RuntimeError("node already started")
        avoid = _head_ports(self.head)
        self.ports = dict(zip(NODE_PORT_OPTIONS,
                              free_ports(len(NODE_PORT_OPTIONS), avoid), strict=True))
        base = free_port_range(self.worker_port_count, avoid | set(self.ports.values()))
        self.worker_ports = (base, base + self.worker_port_count - 1)
        self.command = [
            sys.executable, "-m", "ray.scripts.scripts", "start", "--block",
            f"--address={self.head.gcs_address}",
            f"--temp-dir={self.head.temp_dir}",
            # Tells our node apart in `/api/v0/nodes` (else named after the shared IP).
            f"--node-name={self.name}",
            f"--num-cpus={self.num_cpus}",
            f"--resources={json.dumps(dict(self.resources))}",
            f"--min-worker-port={self.worker_ports[0]}",
            f"--max-worker-port={self.worker_ports[1]}",
            "--disable-usage-stats",
            "--log-style=record",
            "--log-color=false",
            *(f"--{name}={port}" for name, port in self.ports.items()),
        ]
        env = {k: v for k, v in os.environ.items() if k not in _FOREIGN_VARS}
        env.update(self.head.auth_env())
        env["RAY_USAGE_STATS_ENABLED"] = "0"
        # Job entrypoints say `python ...`: the same interpreter as the head's.
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen(self.command, env=env, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        return self

    def wait_registered(self, timeout_s: float = 120.0) -> dict[str, Any]:
        """Wait until the head lists this node ALIVE; its `/api/v0/nodes` entry.

        The deadline only guards against a hang: the wait ends on the event.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"joining node exited while starting:\n{self.log_tail()}")
            with contextlib.suppress(OSError, ValueError, KeyError):
                for node in alive_nodes(self.head):
                    if node["node_name"] == self.name:
                        return node
            if time.monotonic() >= deadline:
                raise RuntimeError(f"node pid {self.pid} not registered after "
                                   f"{timeout_s:.0f} s:\n{self.log_tail()}")
            time.sleep(0.5)

    def log_tail(self, lines: int = 30) -> str:
        """The end of `ray start`'s output, for error messages."""
        try:
            tail = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError as exc:
            return f"(no output: {exc})"
        return f"--- {self.log_path}\n" + "\n".join(tail)

    def processes(self) -> list[psutil.Process]:
        """The `ray start` process, its descendants and the rest of its session."""
        if self.proc is None:
            return []
        found: dict[int, psutil.Process] = {}
        with contextlib.suppress(psutil.NoSuchProcess):
            leader = psutil.Process(self.pid)
            found[leader.pid] = leader
            for child in leader.children(recursive=True):
                found[child.pid] = child
        for proc in psutil.process_iter():
            with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError):
                if proc.pid not in found and os.getsid(proc.pid) == self.pid:
                    found[proc.pid] = proc
                    with contextlib.suppress(psutil.NoSuchProcess):
                        found.update({c.pid: c for c in proc.children(recursive=True)})
        return list(found.values())

    def stop(self) -> list[int]:
        """SIGTERM the `ray start` process (it stops its children in order), then
        SIGTERM and SIGKILL whatever is left; PIDs that survived even SIGKILL."""
        if self.proc is None:
            return []
        procs = {p.pid: p for p in self.processes()}
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=self.stop_grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        survivors: list[psutil.Process] = []
        for kill in (psutil.Process.terminate, psutil.Process.kill):
            # Orphans were re-parented when the leader died: keep the earlier handles
            # (psutil refuses to signal a reused PID).
            for proc in self.processes():
                procs.setdefault(proc.pid, proc)
            living = [p for p in procs.values() if alive(p)]
            for proc in living:
                with contextlib.suppress(psutil.NoSuchProcess):
                    kill(proc)
            _, survivors = psutil.wait_procs(living, timeout=5)
            if not survivors:
                break
        self.proc = None
        return [p.pid for p in survivors]


@dataclass(frozen=True)
class TwoNodes:
    """What a test needs: the CPU-less head, the joined node, its Ray id and resources."""

    head: LocalRayCluster
    node: JoinedNode
    node_id: str
    resources: dict[str, float]


@contextlib.contextmanager
def two_node_cluster(worker_cpus: int = 2,
                     resources: Mapping[str, float] | None = None) -> Iterator[TwoNodes]:
    """A private head offering no CPUs plus one joined node with `worker_cpus` CPUs and
    `resources` (default `{"model_node": 1}`); both stopped by PID on exit."""
    extra = {"model_node": 1.0} if resources is None else dict(resources)
    with LocalRayCluster(num_cpus=0) as head:
        node = JoinedNode(head, num_cpus=worker_cpus, resources=extra)
        try:
            node.start()
            entry = node.wait_registered()
            yield TwoNodes(head=head, node=node, node_id=entry["node_id"],
                           resources=dict(entry["resources_total"]))
        finally:
            survivors = node.stop()
        if survivors:
            raise RuntimeError(f"joined node processes survived SIGKILL: {survivors}")
