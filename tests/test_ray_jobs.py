"""rm_core.cluster.jobs against a REAL private Ray head (token auth on), plus parse_metrics.

One head serves the module (~6-10 s to start); every test uses its own submission ids.
The head is always stopped in teardown, which also checks that none of its processes
(job drivers included) survived.
"""

from __future__ import annotations

import os
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from rm_core.cluster.jobs import (
    JobFailed,
    JobStatus,
    JobTimeout,
    LocalRayCluster,
    RayAuthFailed,
    follow,
    head_processes,
    iter_metrics,
    job_client,
    parse_metrics,
    raise_for_status,
    submit_or_attach,
)
from rm_core.errors import RayUnavailable, RmPipelineError

FAST = (0.2, 0.5, 1.0)


def _alive(procs: set[tuple[int, int]]) -> list[int]:
    """PIDs of `procs` still running with the same start time (not zombies)."""
    alive = []
    for pid, start in procs:
        try:
            raw = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rfind(")") + 2:].split()
        if fields[0] not in ("Z", "X") and int(fields[19]) == start:
            alive.append(pid)
    return alive


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalRayCluster]:
    with pytest.MonkeyPatch.context() as mp:
        # Would redirect every JobSubmissionClient to some other cluster.
        mp.delenv("RAY_ADDRESS", raising=False)
        mp.delenv("RAY_API_SERVER_ADDRESS", raising=False)
        head = LocalRayCluster(num_cpus=2)
        seen: set[tuple[int, int]] = set()
        try:
            head.start()
            yield head
            seen = head.processes()
        finally:
            sid = head.pid if head.running else None
            head.stop()
        assert seen, "the head had no processes?"
        assert not _alive(seen), f"head processes survived stop(): {_alive(seen)}"
        if sid is not None:
            assert not head_processes(sid)


@pytest.fixture
def client(cluster: LocalRayCluster):
    return cluster.client()


def _sid(name: str) -> str:
    return f"rmp-test-{name}-{uuid.uuid4().hex[:8]}"


def _run(client, entrypoint: str, **kwargs) -> tuple[str, JobStatus, list[str]]:
    sid = _sid("job")
    assert submit_or_attach(client, sid, entrypoint, **kwargs) is True
    lines: list[str] = []
    status = follow(client, sid, lines.extend, poll_seconds=FAST, timeout_s=60)
    return sid, status, lines


def test_trivial_job_succeeds_and_streams_lines(client) -> None:
    batches: list[list[str]] = []
    sid = _sid("ok")
    # Output in two bursts (so it is streamed, not read once at the end); the last line
    # lacks its newline and must still arrive.
    entrypoint = ("python -c \"import time; "
                  "print('step:1 - critic/score/mean:0.5 - note:abc', flush=True); "
                  "time.sleep(2); print('done', end='')\"")
    assert submit_or_attach(client, sid, entrypoint) is True
    status = follow(client, sid, batches.append, poll_seconds=FAST, timeout_s=60)
    assert status == JobStatus.SUCCEEDED
    lines = [line for batch in batches for line in batch]
    assert all(batches), "on_lines got an empty batch"
    assert len(batches) >= 2, f"expected incremental delivery, got {batches}"
    assert "done" in lines
    assert lines.count("step:1 - critic/score/mean:0.5 - note:abc") == 1  # no re-sends
    assert list(iter_metrics(lines)) == [{"step": 1.0, "critic/score/mean": 0.5}]
    raise_for_status(client, sid, status)  # no exception


def test_same_submission_id_submits_once(client) -> None:
    sid = _sid("dup")
    entrypoint = "python -c \"print('once')\""
    assert submit_or_attach(client, sid, entrypoint, metadata={"run": "a"}) is True
    assert submit_or_attach(client, sid, entrypoint, metadata={"run": "a"}) is False
    matching = [job for job in client.list_jobs() if job.submission_id == sid]
    assert len(matching) == 1
    status = follow(client, sid, lambda lines: None, poll_seconds=FAST, timeout_s=60)
    assert status == JobStatus.SUCCEEDED
    # A retry after the job ended attaches too and sees the same outcome.
    assert submit_or_attach(client, sid, entrypoint) is False
    assert len([job for job in client.list_jobs() if job.submission_id == sid]) == 1


def test_failed_job_raises_with_log_tail(client) -> None:
    sid, status, lines = _run(
        client, "python -c \"import sys; print('boom-marker'); sys.exit(3)\"")
    assert status == JobStatus.FAILED
    assert "boom-marker" in lines
    with pytest.raises(JobFailed) as caught:
        raise_for_status(client, sid, status, tail_lines=5)
    message = str(caught.value)
    assert "boom-marker" in message
    assert "exit code 3" in message
    assert sid in message and "FAILED" in message
    assert len(caught.value.log_tail) <= 5
    assert isinstance(caught.value, RmPipelineError)


def _wait_for_pid(lines: list[str], deadline_s: float = 30) -> int:
    deadline = time.monotonic() + deadline_s
    while True:
        for line in lines:
            if line.startswith("driver-pid "):
                return int(line.split()[1])
        if time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    raise AssertionError(f"job never printed its pid: {lines}")


def _gone(pid: int, within_s: float = 15) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.2)
    return False


SLEEPER = ("python -c \"import os, time; print('driver-pid', os.getpid(), flush=True); "
           "time.sleep(600)\"")


def test_timeout_stops_the_job(client) -> None:
    sid = _sid("slow")
    submit_or_attach(client, sid, SLEEPER)
    lines: list[str] = []
    started = time.monotonic()
    with pytest.raises(JobTimeout) as caught:
        follow(client, sid, lines.extend, poll_seconds=FAST, timeout_s=6)
    assert time.monotonic() - started < 40
    assert caught.value.submission_id == sid
    assert client.get_job_status(sid) == JobStatus.STOPPED
    assert _gone(_wait_for_pid(lines, 0)), "the job's driver process survived the stop"


def test_interrupt_inside_follow_stops_the_job(client) -> None:
    sid = _sid("interrupted")
    submit_or_attach(client, sid, SLEEPER)
    lines: list[str] = []

    def on_lines(new: list[str]) -> None:
        lines.extend(new)
        if any(line.startswith("driver-pid") for line in new):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        follow(client, sid, on_lines, poll_seconds=FAST, timeout_s=60)
    deadline = time.monotonic() + 20
    while client.get_job_status(sid) != JobStatus.STOPPED and time.monotonic() < deadline:
        time.sleep(0.3)
    assert client.get_job_status(sid) == JobStatus.STOPPED
    assert _gone(_wait_for_pid(lines, 0))


def test_clients_without_the_token_are_rejected(cluster: LocalRayCluster,
                                                monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ray/auth_token either
    with pytest.raises(RayAuthFailed, match=cluster.dashboard_url):
        job_client(cluster.dashboard_url, None)
    with pytest.raises(RayAuthFailed):
        job_client(cluster.dashboard_url, {"RAY_AUTH_TOKEN": "0" * 64})
    # The raw API too, independent of Ray's client-side token handling.
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(cluster.dashboard_url + "/api/jobs/", timeout=10)
    assert caught.value.code == 401
    # ... while the cluster's own token works, and is kept private.
    assert isinstance(job_client(cluster.dashboard_url, cluster.auth_env()).list_jobs(), list)
    assert cluster.token_path.stat().st_mode & 0o777 == 0o600
    token = cluster.token_path.read_text()
    assert token not in str(cluster.auth_env()) and token not in repr(cluster)
    ray_start_log = (cluster.temp_dir / "ray-start.log").read_text()
    assert token not in ray_start_log


def test_unreachable_address_raises_ray_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens on it
    address = f"http://127.0.0.1:{port}"
    with pytest.raises(RayUnavailable, match=address):
        job_client(address, None)


def _listeners(port: int) -> list[str]:
    """Local addresses (hex, as in /proc/net/tcp*) of sockets listening on `port`."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if fields[3] == "0A" and int(hex_port, 16) == port:
                found.append(address)
    return found


LOOPBACK = {"0100007F", "00000000000000000000000001000000",
            "0000000000000000FFFF00000100007F"}


def test_dashboard_listens_on_loopback_only(cluster: LocalRayCluster) -> None:
    listeners = _listeners(cluster.dashboard_port)
    assert listeners, "nothing listens on the dashboard port"
    assert set(listeners) <= LOOPBACK, f"dashboard reachable beyond loopback: {listeners}"


def test_env_vars_reach_the_job_but_not_metadata(client) -> None:
    secret = "s3cr3t-" + uuid.uuid4().hex
    sid, status, lines = _run(
        client, "python -c \"import os; print('got', os.environ['RMP_TEST_TOKEN'])\"",
        runtime_env={"env_vars": {"RMP_TEST_TOKEN": secret}}, metadata={"stage": "test"})
    assert status == JobStatus.SUCCEEDED
    assert f"got {secret}" in lines
    info = client.get_job_info(sid)
    assert secret not in info.entrypoint
    assert secret not in str(info.metadata)
    with pytest.raises(ValueError, match="RMP_TEST_TOKEN"):
        submit_or_attach(client, _sid("leak"), f"python -c \"print('{secret}')\"",
                         runtime_env={"env_vars": {"RMP_TEST_TOKEN": secret}})
    with pytest.raises(ValueError, match="RMP_TEST_TOKEN"):
        submit_or_attach(client, _sid("leak"), "python -c pass",
                         runtime_env={"env_vars": {"RMP_TEST_TOKEN": secret}},
                         metadata={"note": secret})


def test_job_driver_can_use_the_cluster(client) -> None:
    """verl's driver calls ray.init() and starts actors: auth must reach it unaided."""
    _, status, lines = _run(
        client, "python -c \"import ray; ray.init(); "
                "print('answer', ray.get(ray.remote(lambda: 41 + 1).remote()))\"")
    assert status == JobStatus.SUCCEEDED, lines
    assert "answer 42" in lines


def test_stop_leaves_no_process_and_no_temp_dir() -> None:
    """Even with a job still running: Ray puts job drivers in sessions of their own."""
    head = LocalRayCluster(num_cpus=1)
    try:
        head.start()
        client = head.client()
        lines: list[str] = []
        job = _sid("orphan")
        submit_or_attach(client, job, SLEEPER)
        deadline = time.monotonic() + 30
        while not any(line.startswith("driver-pid") for line in lines):
            assert time.monotonic() < deadline, lines
            lines = client.get_job_logs(job).splitlines()
            time.sleep(0.3)
        driver = _wait_for_pid(lines, 0)
        procs = head.processes()
        assert driver in {pid for pid, _ in procs}
        names = {Path(f"/proc/{pid}/comm").read_text().strip() for pid, _ in procs}
        assert {"raylet", "gcs_server"} <= names
        temp_dir, sid, port = head.temp_dir, head.pid, head.dashboard_port
    finally:
        started = time.monotonic()
        head.stop()
    assert time.monotonic() - started < 30
    assert _gone(driver, 0.5), "the running job's driver outlived the head"
    assert not _alive(procs)
    assert not head_processes(sid)
    assert not temp_dir.exists()
    assert not _listeners(port)
    assert not head.running
    head.stop()  # idempotent


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("step:3 - actor/pg_loss:0.123 - critic/score/mean:0.5 - timing_s/gen:12.3",
         {"step": 3.0, "actor/pg_loss": 0.123, "critic/score/mean": 0.5,
          "timing_s/gen": 12.3}),
        ("\x1b[36m(TaskRunner pid=123)\x1b[0m step:7 - val-core/x/reward/mean@1:-1e-05",
         {"step": 7.0, "val-core/x/reward/mean@1": -1e-05}),
        ("(TaskRunner pid=9, ip=10.0.0.2) step:2 - a:1 - name:qwen - b:np.float64(0.25)",
         {"step": 2.0, "a": 1.0, "b": 0.25}),
        ("(pid=5) step:4 - loss:2.5 \x1b[32m[repeated 2x across cluster]\x1b[0m",
         {"step": 4.0, "loss": 2.5}),
        ("step:0", {"step": 0.0}),
        ("step:1 - clock:12:30 - ok:1", {"step": 1.0, "ok": 1.0}),
    ],
)
def test_parse_metrics(line: str, expected: dict[str, float]) -> None:
    assert parse_metrics(line) == expected


@pytest.mark.parametrize(
    "line",
    ["", "done", "Training Progress: step:3", "stepper:3 - a:1", "step:x - a:1",
     "(TaskRunner pid=1) validation generation end", "step:3- a:1"],
)
def test_parse_metrics_ignores_other_lines(line: str) -> None:
    assert parse_metrics(line) is None


def test_env_does_not_leak_into_this_process(cluster: LocalRayCluster) -> None:
    """Starting a head must not switch this process to the cluster's auth state."""
    assert os.environ.get("RAY_AUTH_TOKEN_PATH") != str(cluster.token_path)


def test_start_timeout_reports_ray_log_and_cleans_up() -> None:
    head = LocalRayCluster(num_cpus=1, startup_timeout_s=3)
    with pytest.raises(RayUnavailable) as caught:
        head.start()
    message = str(caught.value)
    assert head.dashboard_url in message
    assert "ray-start.log" in message and "Local node IP" in message  # Ray's own output
    pid = int(message.split(" pid ", 1)[1].split()[0])
    assert not head_processes(pid)
    assert not head.running
    assert not list(Path(head.temp_root).glob(f"rmp-ray-*/session_*_{pid}"))
