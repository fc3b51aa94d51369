"""rm_core.cluster (jobs, job_log, local_head, processes) against a REAL private Ray head
(token auth on), plus parse_metrics.

One head serves the module (~6-10 s to start); every test uses its own submission ids.
The head is always stopped in teardown, which also checks that none of its processes
(job drivers included) survived.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import psutil
import pytest

from rm_core.cluster.job_log import follow
from rm_core.cluster.jobs import (
    CONFIG_ERROR_EXIT,
    JobConfigError,
    JobFailed,
    JobStatus,
    JobStopped,
    JobTimeout,
    RayAuthFailed,
    job_client,
    raise_for_status,
    submit_or_attach,
    worth_retrying,
)
from rm_core.cluster.local_head import LocalRayCluster
from rm_core.cluster.processes import alive
from rm_core.errors import RayUnavailable, RmPipelineError
from rm_core.training.monitor import iter_metrics

FAST = 0.3  # status checks of follow(): no test depends on it, they just end sooner
# Only guards against a hang: every wait below ends as soon as its event happens.
DEADLINE_S = 120


def _alive(procs: set[psutil.Process]) -> list[int]:
    """PIDs of `procs` still running (not zombies, not a reused PID)."""
    return sorted(proc.pid for proc in procs if alive(proc))


def _eventually(condition: Callable[[], object], what: str) -> None:
    """Wait for `condition` to hold; fail naming `what` if it has not after DEADLINE_S."""
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"still not {what} after {DEADLINE_S} s"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalRayCluster]:
    with pytest.MonkeyPatch.context() as mp:
        # Would redirect every JobSubmissionClient to some other cluster.
        mp.delenv("RAY_ADDRESS", raising=False)
        mp.delenv("RAY_API_SERVER_ADDRESS", raising=False)
        head = LocalRayCluster(num_cpus=2)
        seen: set[psutil.Process] = set()
        try:
            head.start()
            yield head
            seen = head.processes()
        finally:
            head.stop()
        assert seen, "the head had no processes?"
        assert not _alive(seen), f"head processes survived stop(): {_alive(seen)}"


@pytest.fixture
def client(cluster: LocalRayCluster):
    return cluster.client()


def _sid(name: str) -> str:
    return f"rmp-test-{name}-{uuid.uuid4().hex[:8]}"


def _run(client, entrypoint: str, **kwargs) -> tuple[str, JobStatus, list[str]]:
    sid = _sid("job")
    assert submit_or_attach(client, sid, entrypoint, **kwargs) is True
    lines: list[str] = []
    status = follow(client, sid, lines.extend, status_every_s=FAST, timeout_s=DEADLINE_S)
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
    status = follow(client, sid, batches.append, status_every_s=FAST, timeout_s=DEADLINE_S)
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
    status = follow(client, sid, lambda lines: None, status_every_s=FAST, timeout_s=DEADLINE_S)
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


SLEEPER = ("python -c \"import os, time; print('driver-pid', os.getpid(), flush=True); "
           "time.sleep(600)\"")


def _driver_pid(lines: list[str]) -> int | None:
    return next((int(line.split()[1]) for line in lines if line.startswith("driver-pid ")),
                None)


def _driver(client, sid: str) -> psutil.Process:
    """The SLEEPER job's driver process, once it has printed its pid."""
    pids: list[int] = []

    def printed() -> bool:
        pid = _driver_pid(client.get_job_logs(sid).splitlines())
        pids.extend([pid] if pid else [])
        return bool(pids)

    _eventually(printed, f"printing its pid (job {sid})")
    return psutil.Process(pids[0])


def test_timeout_stops_the_job(client) -> None:
    sid = _sid("slow")
    submit_or_attach(client, sid, SLEEPER)
    driver = _driver(client, sid)  # running: it will sleep far beyond the timeout
    lines: list[str] = []
    with pytest.raises(JobTimeout) as caught:
        follow(client, sid, lines.extend, status_every_s=FAST, timeout_s=3)
    assert caught.value.submission_id == sid
    assert client.get_job_status(sid) == JobStatus.STOPPED
    assert _driver_pid(lines) == driver.pid  # the log up to the stop was handed over
    _eventually(lambda: not alive(driver), "gone: the job's driver survived the stop")


def test_interrupt_inside_follow_stops_the_job(client) -> None:
    sid = _sid("interrupted")
    submit_or_attach(client, sid, SLEEPER)
    drivers: list[psutil.Process] = []

    def on_lines(new: list[str]) -> None:
        pid = _driver_pid(new)
        if pid:
            drivers.append(psutil.Process(pid))
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        follow(client, sid, on_lines, status_every_s=FAST, timeout_s=DEADLINE_S)
    _eventually(lambda: client.get_job_status(sid) == JobStatus.STOPPED, "STOPPED")
    _eventually(lambda: not alive(drivers[0]), "gone: the job's driver survived the stop")


def test_why_a_job_ended_decides_whether_a_retry_can_help(client) -> None:
    """A stop someone asked for and a driver rejecting its configuration fail the same
    way again; a driver that died (here: killed) may not."""
    stopped = _sid("stopped")
    submit_or_attach(client, stopped, SLEEPER)
    driver = _driver(client, stopped)
    client.stop_job(stopped)
    assert follow(client, stopped, lambda lines: None, status_every_s=FAST) == JobStatus.STOPPED
    config_error = f"python -c \"import sys; print('bad override'); sys.exit({CONFIG_ERROR_EXIT})\""
    bad_config, bad_status, _ = _run(client, config_error)
    killed = _sid("killed")
    submit_or_attach(client, killed, SLEEPER)
    _driver(client, killed).kill()
    killed_status = follow(client, killed, lambda lines: None, status_every_s=FAST)

    raised = {}
    for sid, status in ((stopped, JobStatus.STOPPED), (bad_config, bad_status),
                        (killed, killed_status)):
        with pytest.raises(JobFailed) as caught:
            raise_for_status(client, sid, status)
        raised[sid] = caught.value
    assert type(raised[stopped]) is JobStopped
    assert type(raised[bad_config]) is JobConfigError and "bad override" in str(raised[bad_config])
    assert type(raised[killed]) is JobFailed and killed_status == JobStatus.FAILED
    assert [worth_retrying(raised[sid]) for sid in (stopped, bad_config, killed)] == [
        False, False, True]
    assert worth_retrying(RayUnavailable("gone")) and not worth_retrying(RayAuthFailed("no"))
    assert not alive(driver)


def test_a_second_follow_of_a_job_replays_its_log_once(client) -> None:
    """A retried task follows its job again from the first line, each line once."""
    sid, status, first = _run(client, "python -c \"print('\\n'.join(map(str, range(50))))\"")
    again: list[str] = []
    assert follow(client, sid, again.extend, status_every_s=FAST) == status
    assert first == again
    assert [line for line in again if line.isdigit()] == [str(n) for n in range(50)]


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
        job = _sid("orphan")
        submit_or_attach(client, job, SLEEPER)
        driver = _driver(client, job)
        procs = head.processes()
        assert driver in procs
        names = set()
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                names.add(proc.name())
        assert {"raylet", "gcs_server"} <= names
        temp_dir, sid, port = head.temp_dir, head.pid, head.dashboard_port
    finally:
        head.stop()
    assert not alive(driver), "the running job's driver outlived the head"
    assert not _alive(procs)
    assert not _session(sid)
    assert not temp_dir.exists()
    assert not _listeners(port)
    assert not head.running
    head.stop()  # idempotent


def test_env_does_not_leak_into_this_process(cluster: LocalRayCluster) -> None:
    """Starting a head must not switch this process to the cluster's auth state."""
    assert os.environ.get("RAY_AUTH_TOKEN_PATH") != str(cluster.token_path)


def _session(sid: int) -> list[int]:
    """Live processes of the session `sid` (orphans of a head keep its session id)."""
    members = []
    for proc in psutil.process_iter():
        with contextlib.suppress(OSError, psutil.Error):
            if os.getsid(proc.pid) == sid and alive(proc):
                members.append(proc.pid)
    return members


# Holds the dashboard of a head before it serves anything, so the head can never become
# ready (and `ray start` waits for it, as RAY_DASHBOARD_STARTUP_TIMEOUT_S allows).
HOLD_DASHBOARD = """import sys, time
if any(arg.endswith("dashboard.py") for arg in sys.argv):
    time.sleep(3600)
"""


def test_a_head_that_never_gets_ready_times_out_reports_ray_log_and_cleans_up(
    tmp_path: Path,
) -> None:
    (tmp_path / "sitecustomize.py").write_text(HOLD_DASHBOARD)
    head = LocalRayCluster(num_cpus=1, startup_timeout_s=20,
                           env={"PYTHONPATH": str(tmp_path),
                                "RAY_DASHBOARD_STARTUP_TIMEOUT_S": "3600"})
    with pytest.raises(RayUnavailable) as caught:
        head.start()
    message = str(caught.value)
    assert f"not ready at {head.dashboard_url} after 20 s" in message
    assert "ray-start.log" in message and "Local node IP" in message  # Ray's own output
    pid = int(message.split(" pid ", 1)[1].split()[0])
    assert not _session(pid)
    assert not head.running
    assert not list(Path(head.temp_root).glob(f"rmp-ray-*/session_*_{pid}"))


class _DroppingTail:
    """A job API whose log tail drops once mid-line, then replays the log from its start,
    like Ray's after a reconnect."""

    def __init__(self) -> None:
        self.log = "a\nb"
        self.status = JobStatus.RUNNING
        self.tails = 0

    async def tail_job_logs(self, submission_id: str) -> AsyncIterator[str]:
        self.tails += 1
        if self.tails == 1:
            yield "a\n"
            yield "b"
            raise RuntimeError("WebSocket connection closed unexpectedly with close code 1006")
        self.log = "a\nb\nc\n"
        yield self.log
        self.log += "d"  # written after the tail's last read; only the final read sees it
        self.status = JobStatus.SUCCEEDED

    def get_job_status(self, submission_id: str) -> JobStatus:
        return self.status

    def get_job_logs(self, submission_id: str) -> str:
        return self.log


def test_a_dropped_log_tail_is_reopened_without_repeating_lines() -> None:
    fake = _DroppingTail()
    batches: list[list[str]] = []
    assert follow(fake, "job", batches.append, status_every_s=FAST) == JobStatus.SUCCEEDED
    assert batches == [["a"], ["b", "c"], ["d"]]
    assert fake.tails == 2


class _NoTail(_DroppingTail):
    """A job API behind a proxy that refuses websockets: only whole-log reads work."""

    reads = 0

    async def tail_job_logs(self, submission_id: str) -> AsyncIterator[str]:
        self.tails += 1
        raise OSError("websocket refused")
        yield ""  # an async generator, like Ray's

    def get_job_logs(self, submission_id: str) -> str:
        self.reads += 1
        if self.reads == 2:  # the job writes more, then ends
            self.log += "\nmore"
            self.status = JobStatus.SUCCEEDED
        return self.log


def test_without_a_log_tail_the_whole_log_is_polled() -> None:
    fake = _NoTail()
    lines: list[str] = []
    assert follow(fake, "job", lines.extend, status_every_s=FAST,
                  max_errors=2) == JobStatus.SUCCEEDED
    assert lines == ["a", "b", "more"]
    assert fake.tails == 2
