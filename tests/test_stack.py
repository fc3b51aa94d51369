"""The local stack with real processes: a Prefect server, a process worker, a Ray head.

The tests of this module share one stack (module fixture) and run in file order: up,
up again, status, deployments, a deployed run through the worker, down.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import signal
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import psutil
import pytest
import yaml
from conftest import free_port, stack_cli, wait_for
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateName,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.states import Cancelling
from ray.job_submission import JobSubmissionClient
from test_flow_pointwise_train import write_config
from tiny_training import TINY_TRAINING

from deployments.notifications import FAILED_AUTOMATION, OVERDUE_AUTOMATION
from deployments.state import StackSettings, StackState
from rm_core.cluster.credentials import auth_env
from rm_core.cluster.local_head import LocalRayCluster
from rm_core.cluster.processes import alive
from rm_core.config import RAY_ADDRESS_VAR, RAY_TOKEN_PATH_VAR, RayConfig


def no_secret_store(name: str) -> None:
    return None


def options(settings: StackSettings) -> list[str]:
    return ["--state-dir", str(settings.state_dir), "--prefect-port",
            str(settings.prefect_port), "--ray-port", str(settings.ray_port)]


def stack_pids(settings: StackSettings) -> dict[str, int]:
    state = StackState.load(settings)
    assert state.server and state.worker and state.ray
    return {"server": state.server.pid, "worker": state.worker.pid, "ray": state.ray.pid}


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_runs_default_to_the_stack_head_with_its_token_and_other_clusters_keep_theirs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(RAY_ADDRESS_VAR, "http://127.0.0.1:8265")
    monkeypatch.setenv(RAY_TOKEN_PATH_VAR, "/stack/auth_token")
    monkeypatch.setenv("RAY_AUTH_TOKEN", "token-of-the-gpu-cluster")
    assert RayConfig().address == "http://127.0.0.1:8265"
    assert RayConfig(address="http://gpu-head:8265").address == "http://gpu-head:8265"
    assert auth_env("http://127.0.0.1:8265", None, no_secret_store) == {
        "RAY_AUTH_TOKEN_PATH": "/stack/auth_token"}
    assert auth_env("http://gpu-head:8265", None, no_secret_store) == {
        "RAY_AUTH_TOKEN": "token-of-the-gpu-cluster"}
    monkeypatch.delenv("RAY_AUTH_TOKEN")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", "/gpu/auth_token")
    assert auth_env("http://gpu-head:8265", None, no_secret_store) == {
        "RAY_AUTH_TOKEN_PATH": "/gpu/auth_token"}


def test_up_refuses_a_prefect_port_taken_by_something_else(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        done = stack_cli("stack", "up", "--state-dir", str(tmp_path), "--prefect-port",
                         str(port), "--ray-port", str(free_port()), timeout=120)
    assert done.returncode == 1
    assert f"port {port} on 127.0.0.1 (Prefect server) is in use" in done.stderr
    assert "--prefect-port" in done.stderr and "RM_STACK_PREFECT_PORT" in done.stderr
    assert StackState.load(StackSettings(tmp_path)).empty


def test_up_again_keeps_the_same_processes(stack: StackSettings) -> None:
    before = stack_pids(stack)
    again = stack_cli("stack", "up", *options(stack), timeout=120)
    assert again.returncode == 0, again.stderr
    assert stack_pids(stack) == before
    for component in ("prefect server", "ray head", "worker"):
        assert f"{component} already running" in again.stdout
    assert "deployments up to date" in again.stdout


def test_status_reports_components_urls_and_deployments(stack: StackSettings) -> None:
    done = stack_cli("stack", "status", "--json", *options(stack), timeout=60)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    pids = stack_pids(stack)
    components = report["components"]
    assert components["prefect server"] == {"pid": pids["server"], "alive": True,
                                            "healthy": True, "state": "healthy"}
    assert components["worker"]["pid"] == pids["worker"] and components["worker"]["healthy"]
    assert components["ray head"]["pid"] == pids["ray"] and components["ray head"]["healthy"]
    assert report["prefect_ui"] == f"http://127.0.0.1:{stack.prefect_port}"
    assert report["ray_dashboard"] == f"http://127.0.0.1:{stack.ray_port}"
    deployments = {dep["name"]: dep["schedules"] for dep in report["deployments"]}
    assert deployments["pointwise-train/manual"] == []
    assert deployments["pointwise-train/nightly"] == ["cron 0 2 * * * (UTC)"]
    assert {"prepare-data/manual", "evaluate-checkpoints/manual"} <= set(deployments)

    text = stack_cli("stack", "status", *options(stack), timeout=60).stdout
    assert f"http://127.0.0.1:{stack.prefect_port}" in text
    assert f"http://127.0.0.1:{stack.ray_port}" in text
    assert "pointwise-train/nightly" in text


def nightly_runs_scheduled_at_two_utc(stack: StackSettings) -> None:
    """The scheduler created runs of pointwise-train/nightly, each at 02:00 UTC."""
    with SyncPrefectClient(stack.api_url) as client:
        nightly = client.read_deployment_by_name("pointwise-train/nightly")
        assert nightly.pull_steps == [{"prefect.deployments.steps.set_working_directory": {
            "directory": str(Path(__file__).resolve().parents[1])}}]
        scheduled = wait_for(lambda: client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[nightly.id])),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
                name=FlowRunFilterStateName(any_=["Scheduled"])))), timeout_s=120)
    assert scheduled, "the scheduler created no runs for pointwise-train/nightly"
    for run in scheduled:
        start = run.expected_start_time
        assert start is not None and (start.hour, start.minute) == (2, 0)
        assert start.utcoffset() is not None and start.utcoffset().total_seconds() == 0


def test_the_nightly_deployment_has_scheduled_runs_at_two_utc(stack: StackSettings) -> None:
    nightly_runs_scheduled_at_two_utc(stack)


def test_a_manual_run_goes_through_the_worker_to_the_stack_ray_head(
    stack: StackSettings, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "tiny.yaml", TINY_TRAINING)
    done = stack_cli("run", str(config), "--artifacts-dir", str(tmp_path / "art"),
                     *options(stack), timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr
    out = done.stdout
    assert "-> Running" in out and "-> Completed" in out  # state changes
    assert "training step 2/2" in out  # a task's log line, streamed from the Ray job
    assert f"training on the Ray cluster at http://127.0.0.1:{stack.ray_port}" in out
    report = Path(out.split("[run] evaluation report: ")[1].split()[0])
    assert report.is_file() and report.is_relative_to(tmp_path / "art")
    url = out.split("[run] flow run: ")[1].split()[0]
    assert url.startswith(f"http://127.0.0.1:{stack.prefect_port}/v2/runs/flow-run/")
    flow_run_id = url.rsplit("/", 1)[1]
    state = StackState.load(stack)
    assert state.ray is not None
    jobs = LocalRayCluster.attach(state.ray).client().list_jobs()
    assert any(flow_run_id in (job.submission_id or "") for job in jobs)


def test_a_failed_run_exits_non_zero_with_the_state(stack: StackSettings,
                                                    tmp_path: Path) -> None:
    config = tmp_path / "no-training.yaml"
    config.write_text(yaml.safe_dump({"name": "no-training"}))
    done = stack_cli("run", str(config), *options(stack), timeout=300)
    assert done.returncode == 1
    assert "pointwise-train/manual ended Failed" in done.stderr
    assert "has no `training` section" in done.stdout  # the run's own error, from its log
    assert f"http://127.0.0.1:{stack.prefect_port}/v2/runs/flow-run/" in done.stderr


def listeners(pids: set[int]) -> set[tuple[str, int]]:
    """(address, port) of every listening TCP socket of these processes."""
    found = set()
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            for conn in psutil.Process(pid).net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    found.add((conn.laddr.ip, conn.laddr.port))
    return found


def process_tree(pid: int) -> set[int]:
    return {pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))}


def test_the_stack_listens_only_where_the_readme_says(stack: StackSettings) -> None:
    state = StackState.load(stack)
    assert state.server and state.worker and state.ray
    head = LocalRayCluster.attach(state.ray)
    prefect = listeners(process_tree(state.server.pid) | process_tree(state.worker.pid))
    # The server's API and UI port, plus loopback-only ports of its own (e.g. services).
    assert ("127.0.0.1", stack.prefect_port) in prefect
    assert {ip for ip, _ in prefect} == {"127.0.0.1"}, f"Prefect listens on {prefect}"

    ray = listeners({proc.pid for proc in head.processes()})
    dashboard = {(ip, port) for ip, port in ray if port == stack.ray_port}
    assert dashboard == {("127.0.0.1", stack.ray_port)}, f"Ray dashboard on {dashboard}"
    # Ray's core ports (GCS, raylet, object manager, workers, drivers) listen on every
    # interface whatever the node address: the token guards them, and the job API too.
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://127.0.0.1:{stack.ray_port}/api/jobs/", timeout=10)
    assert refused.value.code in (401, 403)


def start_training(stack: StackSettings, config: Path, artifacts: Path
                   ) -> tuple[UUID, JobSubmissionClient, Any]:
    """A pointwise-train/manual run through the worker, once its GRPO job is running (the
    model stages before it are jobs too): (flow run id, the stack head's job client, the
    training job's details)."""
    with SyncPrefectClient(stack.api_url) as client:
        deployment = client.read_deployment_by_name("pointwise-train/manual")
        run = client.create_flow_run_from_deployment(
            deployment.id, parameters={"config_path": str(config),
                                       "artifacts_dir": str(artifacts)})
    state = StackState.load(stack)
    assert state.ray is not None
    ray = LocalRayCluster.attach(state.ray).client()

    def running_job() -> Any:
        return next((job for job in ray.list_jobs() if job.status == "RUNNING"
                     and (job.metadata or {}).get("run_id") == str(run.id)
                     and "rm_core.training.launcher" in job.entrypoint), None)

    job = wait_for(running_job, timeout_s=600)
    assert job is not None, f"run {run.id} never started its Ray job"
    return run.id, ray, job


def steps(count: int) -> dict[str, Any]:
    return {**TINY_TRAINING, "grpo": {**TINY_TRAINING["grpo"], "total_training_steps": count}}


def logged(client: SyncPrefectClient, flow_run_id: UUID, text: str) -> bool:
    logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
    return any(text in log.message for log in logs)


def test_a_second_run_of_the_experiment_waits_and_cancelling_stops_the_first_job(
        stack: StackSettings, tmp_path: Path) -> None:
    config = write_config(tmp_path / "long.yaml", steps(500))
    run_id, ray, job = start_training(stack, config, tmp_path / "art")
    with SyncPrefectClient(stack.api_url) as client:
        deployment = client.read_deployment_by_name("pointwise-train/manual")
        second = client.create_flow_run_from_deployment(
            deployment.id, parameters={"config_path": str(config),
                                       "artifacts_dir": str(tmp_path / "art")})
        assert wait_for(lambda: logged(client, second.id, "is training in another run"), 600)
        trainings = [other.submission_id for other in ray.list_jobs()
                     if "rm_core.training.launcher" in other.entrypoint
                     and not other.status.is_terminal()]
        assert trainings == [job.submission_id], "two trainings of one experiment at once"
        client.set_flow_run_state(second.id, Cancelling())
        client.set_flow_run_state(run_id, Cancelling())
    assert wait_for(lambda: ray.get_job_status(job.submission_id) == "STOPPED", 180), (
        f"Ray job {job.submission_id} still {ray.get_job_status(job.submission_id)} "
        "after the run was cancelled")
    with SyncPrefectClient(stack.api_url) as client:
        assert wait_for(lambda: client.read_flow_run(run_id).state.is_cancelled(), 120)


def test_a_run_whose_worker_died_is_taken_over_without_a_second_job(stack: StackSettings,
                                                                    tmp_path: Path) -> None:
    config = write_config(tmp_path / "twelve.yaml", steps(12))
    _, ray, job = start_training(stack, config, tmp_path / "art")
    worker = StackState.load(stack).worker
    assert worker is not None
    for pid in sorted(process_tree(worker.pid), reverse=True):  # the worker and its run
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    restarted = stack_cli("stack", "up", *options(stack), timeout=300)
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr

    done = stack_cli("run", str(config), "--artifacts-dir", str(tmp_path / "art"),
                     *options(stack), timeout=900)

    assert done.returncode == 0, done.stdout[-4000:] + done.stderr
    stage_jobs = [other.submission_id for other in ray.list_jobs()
                  if (other.metadata or {}).get("stage") == job.metadata["stage"]]
    assert stage_jobs == [job.submission_id], "a second job trained the same stage"
    assert ray.get_job_status(job.submission_id) == "SUCCEEDED"


@contextlib.contextmanager
def webhook_receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """An HTTP receiver on 127.0.0.1: (its URL, the JSON bodies POSTed to it so far)."""
    received: list[dict[str, Any]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()


def test_a_failed_training_run_notifies_once_naming_the_run_and_its_failed_task(
        stack: StackSettings, tmp_path: Path) -> None:
    with webhook_receiver() as (url, received):
        for _ in range(2):  # idempotent: one automation of each kind
            done = stack_cli("stack", "up", *options(stack), "--notify-url", url)
            assert done.returncode == 0, done.stdout + done.stderr
        assert f"failure notifications to {url}" in done.stdout
        with SyncPrefectClient(stack.api_url) as client:
            for name in (FAILED_AUTOMATION, OVERDUE_AUTOMATION):
                assert len(client.read_automations_by_name(name)) == 1, name

        config = tmp_path / "missing-source.yaml"
        config.write_text(yaml.safe_dump({
            "name": "missing-source", "training": TINY_TRAINING,
            "data": {"source": {"kind": "local", "path": str(tmp_path / "gone.jsonl")}}}))
        run = stack_cli("run", str(config), *options(stack), timeout=300)
        assert run.returncode == 1, run.stdout + run.stderr
        flow_run_id = run.stderr.split("/v2/runs/flow-run/")[1].split()[0]
        with SyncPrefectClient(stack.api_url) as client:
            name = client.read_flow_run(UUID(flow_run_id)).name

        assert wait_for(lambda: received, timeout_s=120), "no notification arrived"
        message = received[0]
        assert f"pointwise-train run {name} Failed" in message["subject"]
        assert "Failed task: fetch-source" in message["body"]
        assert "gone.jsonl" in message["body"]
        assert flow_run_id in message["body"]  # the run's UI link
    assert len(received) == 1, received


def test_down_stops_every_process_and_frees_the_ports(stack: StackSettings) -> None:
    state = StackState.load(stack)
    assert state.server and state.worker and state.ray
    head = LocalRayCluster.attach(state.ray)
    ray_processes = head.processes()
    assert ray_processes
    done = stack_cli("stack", "down", *options(stack), timeout=300)
    assert done.returncode == 0, done.stderr
    assert not state.server.alive and not state.worker.alive and not head.running
    assert not [proc.pid for proc in ray_processes if alive(proc)]
    assert not LocalRayCluster.attach(state.ray).processes()
    assert not listening(stack.prefect_port) and not listening(stack.ray_port)
    assert not Path(state.ray.temp_dir).exists()
    again = stack_cli("stack", "down", *options(stack), timeout=60)
    assert again.returncode == 0 and "nothing to stop" in again.stdout

