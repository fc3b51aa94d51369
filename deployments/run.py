"""Run a deployment on the local stack and follow it to the end.

Prints the state changes and the log lines of the run and its subflows, then the
evaluation report and the run's page in the Prefect UI.

    python -m deployments.run [CONFIG] [--max-steps N] [--model PATH] [--profile cpu|gpu]
        [--ray-address URL] [--artifacts-dir DIR] [--param KEY=JSON ...]
        [--deployment pointwise-train/manual] [stack options]

`prefect deployment run --watch` shows only states; this shows what the run logs too.
Exits 1 when the run does not complete.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterParentFlowRunId,
    LogFilter,
    LogFilterFlowRunId,
    LogFilterTimestamp,
)
from prefect.client.schemas.objects import FlowRun, Log
from prefect.client.schemas.sorting import LogSort
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.states import Cancelling

from deployments.prefect_ops import server_healthy
from deployments.stack import add_stack_options
from deployments.state import StackSettings, StackState

DEFAULT_DEPLOYMENT = "pointwise-train/manual"
REPORT_LINE = re.compile(r"evaluation report: (\S.*)$")
POLL_S = 2.0
LOG_PAGE = 200
# Logs reach the API in batches after the run's final state: keep reading this long.
DRAIN_S = 6.0
# The worker polls every 5 s and starts a run in ~10 s: a run still waiting after this
# probably has no worker.
PICKUP_WARN_S = 60.0
# Batches from several processes (worker, flow run) arrive out of order: re-read this far.
LOG_OVERLAP = timedelta(seconds=30)


def parameters(args: argparse.Namespace) -> dict[str, Any]:
    """Flow parameters from the command line; paths made absolute (the run's cwd differs)."""
    chosen: dict[str, Any] = {}
    if args.config:
        config = Path(args.config)
        chosen["config_path"] = str(config.resolve()) if config.exists() else args.config
    if args.artifacts_dir:
        chosen["artifacts_dir"] = str(Path(args.artifacts_dir).resolve())
    for name in ("max_steps", "model_path", "profile", "ray_address"):
        if getattr(args, name) is not None:
            chosen[name] = getattr(args, name)
    for item in args.param:
        key, sep, raw = item.partition("=")
        if not sep:
            raise SystemExit(f"--param wants KEY=VALUE, got {item!r}")
        try:
            chosen[key] = json.loads(raw)
        except json.JSONDecodeError:
            chosen[key] = raw
    return chosen


class RunFollower:
    """Polls one flow run: prints its state changes and the new logs of it and its subflows."""

    def __init__(self, client: SyncPrefectClient, flow_run_id: UUID) -> None:
        self.client = client
        self.flow_run_id = flow_run_id
        self.names: dict[UUID, str] = {}  # flow and task run ids -> names
        self.seen: set[UUID] = set()
        self.since: datetime | None = None
        self.state: str | None = None
        self.report: str | None = None
        self.created = time.monotonic()
        self.warned = False

    def poll(self) -> FlowRun:
        """Print new logs and a state change; a final state once its last logs are in."""
        run = self.client.read_flow_run(self.flow_run_id)
        self.names[run.id] = run.name
        self._print_logs()
        if run.state is not None and run.state.is_final():
            self._drain()
        if run.state is not None and run.state.name != self.state:
            message = f": {run.state.message}" if run.state.message else ""
            print(f"[run] {run.name}: {self.state or 'created'} -> {run.state.name}{message}",
                  flush=True)
            self.state = run.state.name
        waiting = run.state is not None and run.state.is_scheduled()
        if waiting and not self.warned and time.monotonic() - self.created > PICKUP_WARN_S:
            print(f"[run] no worker took the run in {PICKUP_WARN_S:.0f} s: is the stack's "
                  "worker running? (`python -m deployments.stack status`)", flush=True)
            self.warned = True
        return run

    def _drain(self) -> None:
        """Read the logs that arrive after the final state, until none came for a while."""
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < DRAIN_S:
            time.sleep(POLL_S)
            if self._print_logs():
                quiet_since = time.monotonic()

    def _where(self, entry: Log) -> str:
        """The task run's name, else the flow run's: which stage a line comes from."""
        if entry.task_run_id is not None:
            if entry.task_run_id not in self.names:
                self.names[entry.task_run_id] = self.client.read_task_run(entry.task_run_id).name
            return self.names[entry.task_run_id]
        return self.names.get(entry.flow_run_id, "") if entry.flow_run_id else ""

    def _run_ids(self) -> list[UUID]:
        """The run and its subflow runs, recursively."""
        ids, todo = [self.flow_run_id], [self.flow_run_id]
        while todo:
            children = self.client.read_flow_runs(flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=todo)))
            todo = [child.id for child in children if child.id not in ids]
            for child in children:
                self.names[child.id] = child.name
            ids += todo
        return ids

    def _print_logs(self) -> bool:
        printed = False
        for entry in self._new_logs(self._run_ids()):
            printed = True
            stamp = entry.timestamp.astimezone().strftime("%H:%M:%S")
            print(f"{stamp} | {self._where(entry)} | {entry.message}", flush=True)
            match = REPORT_LINE.search(entry.message)
            if match:
                self.report = match.group(1).strip()
        return printed

    def _new_logs(self, ids: Iterable[UUID]) -> list[Log]:
        found: list[Log] = []
        offset = 0
        log_filter = LogFilter(flow_run_id=LogFilterFlowRunId(any_=list(ids)))
        if self.since is not None:
            log_filter.timestamp = LogFilterTimestamp(after_=self.since - LOG_OVERLAP)
        while True:
            page = self.client.read_logs(log_filter, limit=LOG_PAGE, offset=offset,
                                         sort=LogSort.TIMESTAMP_ASC)
            found += [entry for entry in page if entry.id not in self.seen]
            if len(page) < LOG_PAGE:
                break
            offset += LOG_PAGE
        for entry in found:
            self.seen.add(entry.id)
            self.since = entry.timestamp if self.since is None else max(self.since,
                                                                          entry.timestamp)
        return found


def follow(settings: StackSettings, deployment: str, params: dict[str, Any]) -> int:
    """Create the flow run, follow it to a final state; 0 if it completed."""
    with temporary_settings(updates={PREFECT_API_URL: settings.api_url}):
        flow_run = run_deployment(deployment, parameters=params, timeout=0)
        url = settings.flow_run_url(flow_run.id)
        print(f"[run] {deployment}: flow run {flow_run.name} ({url})", flush=True)
        with SyncPrefectClient(settings.api_url) as client:
            follower = RunFollower(client, flow_run.id)
            try:
                run = follower.poll()
                while run.state is None or not run.state.is_final():
                    time.sleep(POLL_S)
                    run = follower.poll()
            except KeyboardInterrupt:
                client.set_flow_run_state(flow_run.id, Cancelling(), force=True)
                print(f"\n[run] interrupted: cancelling flow run {flow_run.name} ({url})",
                      file=sys.stderr)
                return 130
    assert run.state is not None
    if not run.state.is_completed():
        print(f"[run] {deployment} ended {run.state.name}: {run.state.message or ''}\n"
              f"[run] see {url}", file=sys.stderr)
        return 1
    if follower.report:
        print(f"[run] evaluation report: {follower.report}")
    else:
        print("[run] the run logged no evaluation report (it may have skipped evaluation)")
    print(f"[run] flow run: {url}")
    return 0


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m deployments.run",
                                  description=__doc__.splitlines()[0])
    cli.add_argument("config", nargs="?", help="experiment YAML (the deployment's default)")
    cli.add_argument("--max-steps", type=int)
    cli.add_argument("--model", dest="model_path")
    cli.add_argument("--profile", choices=["cpu", "gpu"])
    cli.add_argument("--ray-address")
    cli.add_argument("--artifacts-dir")
    cli.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                     help="any other flow parameter; VALUE is JSON or a plain string")
    cli.add_argument("--deployment", default=DEFAULT_DEPLOYMENT)
    add_stack_options(cli)
    args = cli.parse_args(argv)
    settings = StackSettings.resolve(args.state_dir, args.prefect_port, args.ray_port)
    state = StackState.load(settings)
    if state.prefect_port:
        settings = StackSettings(settings.state_dir, state.prefect_port, settings.ray_port)
    if not server_healthy(settings):
        print(f"[run] no Prefect server answers at {settings.api_url}: bring the stack up "
              "with `python -m deployments.stack up`", file=sys.stderr)
        return 1
    return follow(settings, args.deployment, parameters(args))


if __name__ == "__main__":
    sys.exit(main())
