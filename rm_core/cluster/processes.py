"""Processes known by PID and start time (psutil): find a process tree, end it, and never
signal a process that merely inherited a recorded PID.

A `psutil.Process` remembers the process it was made for and refuses to signal a later
one with the same PID, so it is the handle passed around here. Across commands (the
local stack's state file) a process is recorded as (pid, start time) and found again
with `find`.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterable

import psutil

__all__ = ["alive", "end", "find", "signal_process", "start_time", "tree", "wait_gone"]

# psutil derives a start time from the boot time, which the kernel shifts by whole
# seconds when the wall clock is corrected. A PID reused within a second of its first
# owner's start would need the whole PID space to wrap in that second.
START_TIME_SLACK_S = 1.0


def alive(proc: psutil.Process) -> bool:
    """Still running (a zombie is not), and still the process `proc` was made for."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def start_time(pid: int) -> float | None:
    """Start time (seconds since the epoch) of a live process; None if gone or a zombie."""
    try:
        proc = psutil.Process(pid)
        return proc.create_time() if alive(proc) else None
    except psutil.Error:
        return None


def find(pid: int, started: float) -> psutil.Process | None:
    """The live process `pid` if it is the one that started at `started`, else None."""
    try:
        proc = psutil.Process(pid)
        same = abs(proc.create_time() - started) <= START_TIME_SLACK_S
    except psutil.Error:
        return None
    return proc if same and alive(proc) else None


def tree(roots: Iterable[psutil.Process]) -> set[psutil.Process]:
    """The live processes among `roots` and all their live descendants.

    Pass every process seen so far, not just the first parent: a process whose parent
    died is re-parented to init and is no longer anyone's descendant.
    """
    found = set()
    for root in roots:
        if not alive(root):
            continue
        found.add(root)
        with contextlib.suppress(psutil.Error):
            found.update(child for child in root.children(recursive=True) if alive(child))
    return found


def signal_process(proc: psutil.Process, sig: signal.Signals) -> None:
    """Send `sig` unless the process is gone (psutil checks the PID was not reused)."""
    with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
        proc.send_signal(sig)


def wait_gone(procs: Iterable[psutil.Process], timeout_s: float) -> set[psutil.Process]:
    """Wait up to `timeout_s` for `procs` to end; those still alive (zombies count as gone)."""
    _, left = psutil.wait_procs(list(procs), timeout=timeout_s)
    return {proc for proc in left if alive(proc)}


def end(procs: Iterable[psutil.Process], grace_s: float = 5.0) -> set[psutil.Process]:
    """SIGTERM `procs`, SIGKILL those still alive after `grace_s`; those surviving even that."""
    left = {proc for proc in procs if alive(proc)}
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not left:
            break
        for proc in left:
            signal_process(proc, sig)
        left = wait_gone(left, grace_s)
    return left
