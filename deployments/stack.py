"""The local stack on one machine: Prefect server, process worker, Ray head, deployments.

    python -m deployments.stack up|down|status [--state-dir DIR] [--prefect-port N]
                                              [--ray-port N] [--json]
                                              [--notify-url URL | --notify-block TYPE/NAME]
                                              [--database-url URL]

`up` is idempotent (components alive and healthy are kept) and, given a notification
target, sets the failure automations (deployments/notifications.py); `down` stops the worker,
then the Ray head, then the server, by PID. Deployed flow runs submit their training
jobs to the stack's Ray head: the worker's environment carries its address
(RM_PIPELINE_RAY_ADDRESS) and token file (RM_PIPELINE_RAY_TOKEN_PATH).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deployments import notifications, prefect_ops, processes
from deployments.prefect_ops import StackError
from deployments.state import (
    PREFECT_PORT_VAR,
    RAY_PORT_VAR,
    REPO_ROOT,
    WORK_POOL,
    StackSettings,
    StackState,
)
from rm_core.cluster.local_head import LocalRayCluster
from rm_core.config import RAY_ADDRESS_VAR, RAY_TOKEN_PATH_VAR
from rm_core.errors import RayUnavailable

SERVER_TIMEOUT_S = 180.0
WORKER_TIMEOUT_S = 90.0
NOTIFY_URL_VAR = "RM_NOTIFY_URL"
DATABASE_URL_VAR = "PREFECT_API_DATABASE_CONNECTION_URL"
# Ray's own address variables override any explicit address (the job client refuses them).
_FOREIGN_RAY_VARS = ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS")


def _say(message: str) -> None:
    print(f"[stack] {message}", flush=True)


def _wait(what: str, ready: Callable[[], bool], timeout_s: float,
          alive: Callable[[], bool], log_path: Path) -> None:
    """Poll until ready; fail with the end of the component's log if it dies or hangs."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        if not alive():
            raise StackError(f"{what} exited while starting; end of {log_path}:\n"
                             f"{prefect_ops.log_tail(log_path)}")
        if time.monotonic() >= deadline:
            raise StackError(f"{what} not healthy after {timeout_s:.0f} s; end of {log_path}:\n"
                             f"{prefect_ops.log_tail(log_path)}")
        time.sleep(0.5)


def _port_error(what: str, port: int, option: str, var: str) -> StackError:
    return StackError(
        f"port {port} on 127.0.0.1 ({what}) is in use by a process that is not this stack's. "
        f"Pick another port with {option} N or {var}=N (or stop that process; "
        f"`ss -ltnp 'sport = :{port}'` shows it)."
    )


def _head(state: StackState) -> LocalRayCluster | None:
    return LocalRayCluster.attach(state.ray) if state.ray else None


def _ray_healthy(head: LocalRayCluster | None) -> bool:
    if head is None or not head.running:
        return False
    try:
        head.client().list_jobs()
    except (RayUnavailable, OSError, RuntimeError):
        return False
    return True


# --------------------------------------------------------------------------- up


def _start_server(settings: StackSettings, state: StackState, database_url: str | None) -> bool:
    """Start the server (on `database_url` when given, else SQLite in the state dir, or
    whatever PREFECT_API_DATABASE_CONNECTION_URL says) unless ours runs; True if started."""
    if state.server and state.server.alive:
        _say(f"prefect server already running (pid {state.server.pid})")
        return False
    if processes.port_taken(settings.prefect_port):
        raise _port_error("Prefect server", settings.prefect_port, "--prefect-port",
                          PREFECT_PORT_VAR)
    settings.prefect_home.mkdir(parents=True, exist_ok=True)
    database = {DATABASE_URL_VAR: database_url} if database_url else {}
    state.server = processes.spawn(prefect_ops.server_cmd(settings),
                                   prefect_ops.prefect_env(settings, database), REPO_ROOT,
                                   settings.logs_dir / "server.log")
    state.prefect_port = settings.prefect_port
    state.deployed = None
    state.save(settings)
    _say(f"prefect server starting (pid {state.server.pid}, log "
         f"{settings.logs_dir / 'server.log'})")
    return True


def _wait_server(settings: StackSettings, state: StackState, started: float) -> None:
    assert state.server is not None
    server = state.server
    _wait("Prefect server", lambda: prefect_ops.server_healthy(settings), SERVER_TIMEOUT_S,
          lambda: server.alive, settings.logs_dir / "server.log")
    _say(f"prefect server healthy after {time.monotonic() - started:.1f} s: {settings.ui_url}")


def _start_ray(settings: StackSettings, state: StackState) -> None:
    head = _head(state)
    if head is not None and head.running:
        if not _ray_healthy(head):
            raise StackError(f"Ray head pid {head.pid} is running but its job API at "
                             f"{head.dashboard_url} does not answer; run `down`, then `up`")
        _say(f"ray head already running (pid {head.pid})")
        return
    if processes.port_taken(settings.ray_port):
        raise _port_error("Ray dashboard / job API", settings.ray_port, "--ray-port",
                          RAY_PORT_VAR)
    began = time.monotonic()
    cluster = LocalRayCluster(num_cpus=os.cpu_count() or 2,
                              fixed_dashboard_port=settings.ray_port,
                              env={"PYTHONPATH": prefect_ops.prefect_env(settings)["PYTHONPATH"]})
    cluster.start()
    state.ray = cluster.detach()
    state.ray_port = settings.ray_port
    state.save(settings)
    _say(f"ray head healthy after {time.monotonic() - began:.1f} s (pid {state.ray.pid}): "
         f"dashboard {settings.ray_url}")


def _worker_env(settings: StackSettings, state: StackState) -> dict[str, str]:
    head = _head(state)
    assert head is not None
    return {RAY_ADDRESS_VAR: head.dashboard_url, RAY_TOKEN_PATH_VAR: str(head.token_path),
            "PREFECT_WORKER_QUERY_SECONDS": prefect_ops.WORKER_QUERY_SECONDS}


def _start_worker(settings: StackSettings, state: StackState) -> None:
    wanted = _worker_env(settings, state)
    if state.worker and state.worker.alive:
        if state.worker_env == wanted:
            _say(f"worker already running (pid {state.worker.pid})")
            return
        _say(f"worker pid {state.worker.pid} points at an old Ray head: restarting it")
        processes.stop(state.worker)
    began = time.monotonic()
    env = prefect_ops.prefect_env(settings, wanted)
    for name in _FOREIGN_RAY_VARS:
        env.pop(name, None)
    state.worker_started_at = time.time()
    state.worker = processes.spawn(prefect_ops.worker_cmd(settings), env, REPO_ROOT,
                                   settings.logs_dir / "worker.log")
    state.worker_env = wanted
    state.save(settings)
    worker, since = state.worker, state.worker_started_at
    _wait("Prefect worker", lambda: prefect_ops.worker_online(settings, since),
          WORKER_TIMEOUT_S, lambda: worker.alive,
          settings.logs_dir / "worker.log")
    _say(f"worker online after {time.monotonic() - began:.1f} s (pid {worker.pid}, "
         f"pool {WORK_POOL})")


def _check_ports(settings: StackSettings, state: StackState) -> None:
    """Changing ports of a running stack would orphan its processes: refuse."""
    head = _head(state)
    running = {"Prefect server": (bool(state.server and state.server.alive),
                                  state.prefect_port, settings.prefect_port),
               "Ray head": (bool(head and head.running), state.ray_port, settings.ray_port)}
    for what, (alive, recorded, wanted) in running.items():
        if alive and recorded not in (None, wanted):
            raise StackError(f"this stack's {what} runs on port {recorded}, not {wanted}: "
                             "run `down` first to change ports")


def up(settings: StackSettings, notify_url: str | None = None,
       notify_block: str | None = None, database_url: str | None = None,
       overdue_hours: float = notifications.DEFAULT_OVERDUE_HOURS) -> StackState:
    """Bring every component up (or keep it), register the deployments, set the failure
    notifications when a target is given, print progress."""
    began = time.monotonic()
    state = StackState.load(settings)
    _check_ports(settings, state)
    server_started = _start_server(settings, state, database_url)
    _start_ray(settings, state)  # while the server boots
    if server_started:
        _wait_server(settings, state, began)
    elif not prefect_ops.server_healthy(settings):
        raise StackError(f"Prefect server pid {state.server.pid} runs but {settings.api_url} "
                         "does not answer; run `down`, then `up`")
    if prefect_ops.ensure_work_pool(settings):
        _say(f"work pool {WORK_POOL} created")
    _start_worker(settings, state)
    fingerprint = prefect_ops.deploy_fingerprint()
    if server_started or state.deployed != fingerprint:
        deploy_began = time.monotonic()
        prefect_ops.deploy(settings)
        state.deployed = fingerprint
        state.save(settings)
        _say(f"deployments registered in {time.monotonic() - deploy_began:.1f} s")
    else:
        _say("deployments up to date")
    _set_notifications(settings, notify_url, notify_block, overdue_hours)
    _say(f"up in {time.monotonic() - began:.1f} s. Prefect UI {settings.ui_url}, "
         f"Ray dashboard {settings.ray_url}. Stop with `python -m deployments.stack down`.")
    return state


def _set_notifications(settings: StackSettings, url: str | None, block: str | None,
                       overdue_hours: float) -> None:
    url = url or (None if block else os.environ.get(NOTIFY_URL_VAR) or None)
    if not url and not block:
        _say(f"failure notifications off: give --notify-url URL (or {NOTIFY_URL_VAR}) or "
             "--notify-block TYPE/NAME")
        return
    try:
        notifications.ensure_notifications(settings.api_url, url, block, overdue_hours)
    except notifications.NotificationError as exc:
        raise StackError(str(exc)) from None
    _say(f"failure notifications to {url or block}: automations "
         f"{notifications.FAILED_AUTOMATION!r}, {notifications.OVERDUE_AUTOMATION!r}")


# --------------------------------------------------------------------------- down


def down(settings: StackSettings) -> None:
    """Stop worker, Ray head, server by PID (SIGINT, wait, escalate); forget them."""
    state = StackState.load(settings)
    if state.empty:
        _say("nothing to stop")
        return
    if state.worker:
        _stop_process("worker", state.worker)
        state.worker = None
        state.save(settings)
    head = _head(state)
    if head is not None:
        began, pid = time.monotonic(), head.pid
        if head.running:
            head.stop()
            _say(f"ray head stopped (pid {pid}) in {time.monotonic() - began:.1f} s")
        else:
            _say(f"ray head (pid {pid}) was not running")
        state.ray = None
        state.save(settings)
    if state.server:
        _stop_process("prefect server", state.server)
    settings.state_file.unlink(missing_ok=True)


def _stop_process(what: str, record: processes.ProcessRecord) -> None:
    if not record.alive:
        _say(f"{what} (pid {record.pid}) was not running")
        return
    began = time.monotonic()
    processes.stop(record)
    _say(f"{what} stopped (pid {record.pid}) in {time.monotonic() - began:.1f} s")


# --------------------------------------------------------------------------- status


def status(settings: StackSettings) -> dict[str, Any]:
    """Each component with PID and health, the URLs and the deployments."""
    state = StackState.load(settings)
    if state.prefect_port or state.ray_port:
        settings = StackSettings(settings.state_dir, state.prefect_port or settings.prefect_port,
                                 state.ray_port or settings.ray_port)
    healthy = bool(state.server and state.server.alive) and prefect_ops.server_healthy(settings)
    worker_ok = (bool(state.worker and state.worker.alive) and healthy
                 and prefect_ops.worker_online(settings, 0.0))
    head = _head(state)
    report: dict[str, Any] = {
        "state_dir": str(settings.state_dir),
        "prefect_ui": settings.ui_url,
        "prefect_api": settings.api_url,
        "ray_dashboard": settings.ray_url,
        "components": {
            "prefect server": _component(state.server.pid if state.server else None,
                                         state.server.alive if state.server else False,
                                         healthy),
            "worker": _component(state.worker.pid if state.worker else None,
                                 state.worker.alive if state.worker else False, worker_ok),
            "ray head": _component(head.pid if head else None,
                                   head.running if head else False, _ray_healthy(head)),
        },
        "deployments": [],
    }
    if healthy:
        report["deployments"] = [
            {"name": dep.name, "schedules": list(dep.schedules), "id": dep.id}
            for dep in prefect_ops.list_deployments(settings)
        ]
    return report


def _component(pid: int | None, alive: bool, healthy: bool) -> dict[str, Any]:
    word = "healthy" if healthy else ("unhealthy" if alive else "stopped")
    return {"pid": pid if alive else None, "alive": alive, "healthy": healthy, "state": word}


def _print_status(report: dict[str, Any]) -> None:
    for name, comp in report["components"].items():
        pid = f"pid {comp['pid']}" if comp["pid"] else "-"
        print(f"{name:15} {comp['state']:10} {pid}")
    print(f"Prefect UI      {report['prefect_ui']}  (API {report['prefect_api']})")
    print(f"Ray dashboard   {report['ray_dashboard']}")
    print(f"state dir       {report['state_dir']}")
    if report["deployments"]:
        print("deployments:")
        for dep in report["deployments"]:
            extra = f"  {', '.join(dep['schedules'])}" if dep["schedules"] else ""
            print(f"  {dep['name']}{extra}")


# --------------------------------------------------------------------------- CLI


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="python -m deployments.stack",
                                  description=__doc__.splitlines()[0])
    cli.add_argument("command", choices=["up", "down", "status"])
    add_stack_options(cli)
    cli.add_argument("--json", action="store_true", help="status as JSON")
    cli.add_argument("--database-url", help="up: the Prefect server's database, e.g. "
                     "postgresql+asyncpg://user:password@host:5432/prefect (default: SQLite "
                     f"in the state dir, or ${DATABASE_URL_VAR})")
    cli.add_argument("--overdue-hours", type=float,
                     default=notifications.DEFAULT_OVERDUE_HOURS,
                     help="up: notify when a nightly run has not ended this long after it "
                     "started (default %(default)s)")
    target = cli.add_mutually_exclusive_group()
    target.add_argument("--notify-url", help="up: webhook that gets a JSON {subject, body} "
                        f"when a training run fails (default ${NOTIFY_URL_VAR})")
    target.add_argument("--notify-block", help="up: send through this saved notification "
                        "block instead, TYPE/NAME (e.g. slack-webhook/ops)")
    return cli


def add_stack_options(cli: argparse.ArgumentParser) -> None:
    """The options that select a stack (shared with deployments.run)."""
    cli.add_argument("--state-dir", help="default: <repo>/.stack or $RM_STACK_DIR")
    cli.add_argument("--prefect-port", type=int,
                     help=f"Prefect server port (default 4200 or ${PREFECT_PORT_VAR})")
    cli.add_argument("--ray-port", type=int,
                     help=f"Ray dashboard / job API port (default 8265 or ${RAY_PORT_VAR})")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = StackSettings.resolve(args.state_dir, args.prefect_port, args.ray_port)
    try:
        if args.command == "up":
            up(settings, args.notify_url, args.notify_block, args.database_url,
               args.overdue_hours)
        elif args.command == "down":
            down(settings)
        else:
            report = status(settings)
            if args.json:
                print(json.dumps(report, indent=2))
            else:
                _print_status(report)
    except (StackError, RayUnavailable) as exc:
        print(f"[stack] error: {exc}", file=sys.stderr)
        if args.command == "up":
            print("[stack] what did start keeps running; `down` stops it", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
