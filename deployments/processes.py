"""Long-lived stack processes: started detached, recorded by PID, stopped by PID.

A stack component must outlive the command that started it and be stopped later by
another command, on a machine other people share: each runs in a session of its own
(no terminal signal reaches it), is identified by PID *and* start time (a reused PID
is never signalled) and is stopped with its descendants only.
"""

from __future__ import annotations

import signal
import socket
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from rm_core.cluster.processes import end, find, signal_process, start_time, tree, wait_gone


@dataclass(frozen=True)
class ProcessRecord:
    """A process we started: its PID (also its session id) and start time."""

    pid: int
    start_time: float

    def process(self) -> psutil.Process | None:
        """The recorded process while it runs; never another one that reuses its PID."""
        return find(self.pid, self.start_time)

    @property
    def alive(self) -> bool:
        return self.process() is not None

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "start_time": self.start_time}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProcessRecord:
        return cls(pid=int(data["pid"]), start_time=float(data["start_time"]))


def spawn(cmd: Sequence[str], env: Mapping[str, str], cwd: Path, log_path: Path
          ) -> ProcessRecord:
    """Start `cmd` detached in its own session, output appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        proc = subprocess.Popen(list(cmd), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    started = start_time(proc.pid)
    if started is None:
        raise RuntimeError(f"{cmd[0]} exited at once; see {log_path}")
    return ProcessRecord(proc.pid, started)


def stop(record: ProcessRecord, steps: Sequence[tuple[signal.Signals, float]] = (
        (signal.SIGINT, 15.0), (signal.SIGINT, 10.0), (signal.SIGTERM, 5.0),
        (signal.SIGKILL, 5.0))) -> None:
    """Signal the process step by step until it is gone, then end what it left behind.

    Each step sends a signal and waits; the next escalates (Prefect's worker may need a
    second SIGINT). The processes it started (flow runs, uvicorn) are tracked as its
    descendants, seen before each step, and get SIGTERM, then SIGKILL.
    """
    leader = record.process()
    if leader is None:
        return
    known = tree([leader])
    for sig, wait_s in steps:
        known |= tree(known)
        signal_process(leader, sig)
        if not wait_gone([leader], wait_s):
            break
    end(tree(known))


def port_taken(port: int, host: str = "127.0.0.1") -> bool:
    """True if something accepts connections on host:port or holds it bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        if sock.connect_ex((host, port)) == 0:
            return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As servers bind: a closed listener's TIME_WAIT connections do not hold the port.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False
