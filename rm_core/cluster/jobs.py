"""Ray jobs from the outside: an authenticated job client, submit-or-attach, following a
job's log, and errors that say whether a retry can help.

Ray reads a cluster's token from `RAY_AUTH_TOKEN` or from the file named by
`RAY_AUTH_TOKEN_PATH` (else `~/.ray/auth_token`); our HTTP clients send it as
`Authorization: Bearer <token>` so no process-wide Ray state is involved. This module
must stay free of Prefect: tasks wrap it, tests drive it directly.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ray.exceptions import AuthenticationError
from ray.job_submission import JobStatus, JobSubmissionClient

from rm_core.errors import RayUnavailable, RmPipelineError

__all__ = [
    "JobConfigError",
    "JobFailed",
    "JobStatus",
    "JobStopped",
    "JobTimeout",
    "RayAuthFailed",
    "RayUnavailable",
    "auth_headers",
    "job_client",
    "raise_for_status",
    "stop_unfinished_jobs",
    "submit_or_attach",
    "worth_retrying",
]

log = logging.getLogger(__name__)

AUTH_MODE_VAR = "RAY_AUTH_MODE"
AUTH_TOKEN_VAR = "RAY_AUTH_TOKEN"
AUTH_TOKEN_PATH_VAR = "RAY_AUTH_TOKEN_PATH"
# JobSubmissionClient silently replaces an explicit address with these (like ray.init).
ADDRESS_OVERRIDE_VARS = ("RAY_API_SERVER_ADDRESS", "RAY_ADDRESS")
TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED})
# A job driver that exits with EX_CONFIG (sysexits.h) says its configuration is wrong.
CONFIG_ERROR_EXIT = os.EX_CONFIG


class RayAuthFailed(RmPipelineError):
    """The job API rejected our credentials: retrying will not help, the token is wrong."""


class JobFailed(RmPipelineError):
    """A Ray job did not succeed; the message carries Ray's reason and the log tail."""

    def __init__(self, message: str, submission_id: str, status: JobStatus,
                 log_tail: list[str]) -> None:
        super().__init__(message)
        self.submission_id = submission_id
        self.status = status
        self.log_tail = log_tail


class JobStopped(JobFailed):
    """Someone stopped the job on purpose (a user, a cancelled run): do not run it again."""


class JobConfigError(JobFailed):
    """The job's driver rejected its configuration (bad override, missing file)."""


class JobTimeout(RmPipelineError):
    """A Ray job outlived its time budget and was stopped."""

    def __init__(self, message: str, submission_id: str, timeout_s: float,
                 status: JobStatus | None) -> None:
        super().__init__(message)
        self.submission_id = submission_id
        self.timeout_s = timeout_s
        self.status = status


def worth_retrying(error: BaseException | None) -> bool:
    """Whether running the job again can succeed where it failed.

    Yes for an unreachable cluster and for a job that died (a lost node, a killed driver:
    the next attempt resumes from its last checkpoint). No for a stop someone asked for,
    a configuration error, a timeout or a rejected token: those fail the same way again.
    """
    return (isinstance(error, RayUnavailable | JobFailed)
            and not isinstance(error, JobStopped | JobConfigError))


# --------------------------------------------------------------------------- client


def auth_headers(auth_env: Mapping[str, str]) -> dict[str, str]:
    """The `Authorization` header for the token in `auth_env` (value, else its file)."""
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
    for name in ADDRESS_OVERRIDE_VARS:
        override = os.environ.get(name)
        if override and override.rstrip("/") != address.rstrip("/"):
            raise RayUnavailable(
                f"{name}={override} is set and Ray would use it instead of {address}; "
                f"unset it to talk to {address}"
            )
    try:
        headers = auth_headers(auth_env) if auth_env else None
    except OSError as exc:  # token file gone: usually the cluster was stopped
        raise RayAuthFailed(f"cannot read the token for {address}: {exc}") from exc
    try:
        return JobSubmissionClient(address, headers=headers)
    except AuthenticationError as exc:
        raise RayAuthFailed(f"Ray job API at {address} rejected the request: "
                            f"{str(exc).splitlines()[0]}") from exc
    except (OSError, RuntimeError) as exc:
        raise RayUnavailable(f"Ray job API at {address} is unreachable: {exc}") from exc


def stop_unfinished_jobs(address: str, auth_env: Mapping[str, str],
                         wait_s: float = 10.0) -> list[str]:
    """Best effort: stop every unfinished job at `address` and wait for them; their ids.

    Plain HTTP with timeouts (the SDK has none), so a hung dashboard cannot hang the
    shutdown of a head.
    """
    headers = auth_headers(auth_env)

    def call(method: str, path: str) -> Any:
        request = urllib.request.Request(address + path, method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read() or b"null")

    def unfinished() -> list[str]:
        return [job["submission_id"] for job in call("GET", "/api/jobs/")
                if job.get("submission_id") and job.get("status") not in TERMINAL]

    running: list[str] = []
    try:
        running = unfinished()
        for submission_id in running:
            log.info("stopping Ray job %s", submission_id)
            call("POST", f"/api/jobs/{urllib.parse.quote(submission_id)}/stop")
        deadline = time.monotonic() + wait_s
        while running and unfinished() and time.monotonic() < deadline:
            time.sleep(0.5)
    except (OSError, ValueError) as exc:
        log.info("could not stop jobs through %s: %s", address, exc)
    return running


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
                     metadata: Mapping[str, str] | None = None,
                     placement: Mapping[str, Any] | None = None) -> bool:
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

    `placement` holds the job API's `entrypoint_num_cpus` / `entrypoint_num_gpus` /
    `entrypoint_resources`: without them Ray runs the driver on the head node.
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
                          runtime_env=runtime_env, metadata=metadata, **dict(placement or {}))
    except RuntimeError as exc:
        if "already exists" not in str(exc):
            raise
        # Lost a race with another attempt between our lookup and our submit.
        existing = client.get_job_info(submission_id)
        _log_attach(submission_id, existing.status, existing.entrypoint, entrypoint)
        return False
    log.info("submitted Ray job %s", submission_id)
    return True


def submission_id(run_id: str, attempt_key: str = "") -> str:
    """A Ray submission id derived from the orchestrator's run, so a retry re-attaches."""
    digest = hashlib.sha256(f"{run_id}|{attempt_key}".encode()).hexdigest()[:12]
    safe = re.sub(r"[^a-zA-Z0-9_-]", "-", run_id)[:40]
    return f"rm-pipeline-{safe}-{digest}"


def live_submission_id(client: JobSubmissionClient, base_id: str, attempts: int = 50) -> str:
    """The first attempt id of `base_id` that is unused or still running or succeeded.

    A retry after the orchestrator lost track of a running job re-attaches to it; a retry
    after the job failed or was stopped starts the next attempt (a training job resumes
    from its last checkpoint).
    """
    for attempt in range(attempts):
        candidate = f"{base_id}-{attempt}"
        try:
            status = client.get_job_status(candidate)
        except RuntimeError:
            return candidate
        if status not in {JobStatus.FAILED, JobStatus.STOPPED}:
            return candidate
    raise RuntimeError(f"{attempts} failed attempts of Ray job {base_id}; giving up")


def _log_attach(submission_id: str, status: JobStatus, old: str | None, new: str) -> None:
    log.info("Ray job %s already exists (%s): attaching instead of submitting", submission_id,
             status)
    if old is not None and old != new:
        log.warning("Ray job %s was submitted with a different entrypoint; attaching anyway",
                    submission_id)


def raise_for_status(client: JobSubmissionClient, submission_id: str, status: JobStatus,
                     tail_lines: int = 40) -> None:
    """Raise unless `status` is SUCCEEDED, with Ray's reason and the log tail.

    A stopped job raises `JobStopped`, a driver that exited with `CONFIG_ERROR_EXIT`
    raises `JobConfigError`, anything else `JobFailed`. "FAILED" alone sends people
    digging through the dashboard; the last lines of the job's own output usually hold
    the traceback.
    """
    if status == JobStatus.SUCCEEDED:
        return
    if status not in TERMINAL:
        raise ValueError(f"Ray job {submission_id} is still {status}; follow() it first")
    reason = ""
    exit_code = None
    try:
        info = client.get_job_info(submission_id)
    except (OSError, RuntimeError) as exc:
        log.warning("could not read why Ray job %s ended: %s", submission_id, exc)
    else:
        exit_code = info.driver_exit_code
        # Ray appends the last 20,000 characters of the log to its message: keep the
        # head line, the log tail follows below.
        head = (info.message or "").split(", last available logs")[0].splitlines()
        reason = head[0][:500] if head else ""
        if info.error_type:
            reason += f" [{info.error_type}]"
        if exit_code is not None and f"code {exit_code}" not in reason:
            reason += f" (exit code {exit_code})"
    tail: list[str] = []
    try:
        tail = client.get_job_logs(submission_id).splitlines()[-tail_lines:]
    except (OSError, RuntimeError) as exc:
        log.warning("could not read the log of Ray job %s: %s", submission_id, exc)
    body = "\n".join(tail) if tail else "(no log output)"
    if status == JobStatus.STOPPED:
        error: type[JobFailed] = JobStopped
    elif exit_code == CONFIG_ERROR_EXIT:
        error = JobConfigError
    else:
        error = JobFailed
    raise error(
        f"Ray job {submission_id} ended {status}: {reason or 'no reason given'}\n"
        f"--- last {len(tail)} log lines ---\n{body}",
        submission_id, status, tail,
    )
