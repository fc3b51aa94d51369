"""Following a Ray job's log (`follow`): new lines as the driver writes them, until it ends.

Ray's `tail_job_logs` websocket streams the log file from its start and then whatever
the driver adds; `get_job_logs` returns the whole file each time. Following uses the
tail and reads the whole log once, at the end, to fill in anything a dropped
connection missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
from ray.job_submission import JobStatus, JobSubmissionClient

from rm_core.cluster.jobs import TERMINAL, JobTimeout
from rm_core.errors import RayUnavailable

__all__ = ["follow"]

log = logging.getLogger(__name__)


class _LogTail:
    """How much of a job's log was handed over, so that a replay from its start (a new
    tail connection, a whole-log download) hands over only what is new."""

    def __init__(self, on_lines: Callable[[list[str]], None]) -> None:
        self.on_lines = on_lines
        self.delivered = 0  # characters of the log handed over, the partial line included
        self.position = 0  # characters of the current replay seen so far
        self.partial = ""

    def replay(self) -> None:
        """The next chunk starts again at the beginning of the log."""
        self.position = 0

    def feed(self, chunk: str) -> None:
        """Hand over the complete lines `chunk` adds to what was delivered."""
        start, self.position = self.position, self.position + len(chunk)
        if self.position <= self.delivered:
            return
        pieces = (self.partial + chunk[self.delivered - start:]).split("\n")
        self.delivered = self.position
        self.partial = pieces.pop()
        if pieces:
            self.on_lines(pieces)

    def finish(self) -> None:
        """Hand over the last line even without its newline: the log is complete."""
        if self.partial:
            last, self.partial = self.partial, ""
            self.on_lines([last])


# A dropped tail connection (Ray raises RuntimeError on an abnormal close): reconnect.
_TAIL_ERRORS = (aiohttp.ClientError, OSError, RuntimeError)


class _Follower:
    """Follows one job: Ray's log tail in one task, its status and deadline in another."""

    def __init__(self, client: JobSubmissionClient, submission_id: str,
                 on_lines: Callable[[list[str]], None], status_every_s: float,
                 max_errors: int) -> None:
        self.client = client
        self.submission_id = submission_id
        self.tail = _LogTail(on_lines)
        self.status_every_s = status_every_s
        self.max_errors = max_errors
        self.errors = 0
        self.status: JobStatus | None = None

    async def _call(self, method: Callable[[str], Any]) -> Any:
        """`method(submission_id)` off the event loop; None after a tolerated API error."""
        try:
            result = await asyncio.to_thread(method, self.submission_id)
        except OSError as exc:  # requests' connection errors are OSErrors
            self.errors += 1
            if self.errors >= self.max_errors:
                raise RayUnavailable(f"lost the Ray job API while following "
                                     f"{self.submission_id}: {exc}") from exc
            log.warning("polling Ray job %s failed (%d/%d): %s", self.submission_id,
                        self.errors, self.max_errors, exc)
            return None
        self.errors = 0
        return result

    async def _pump(self, delay_s: float = 0.0) -> None:
        """Hand over what Ray's log tail sends until it closes the connection (the job
        ended, or the dashboard went away). Each connection replays the log from its
        start; after `max_errors` failed connections in a row, poll the whole log."""
        await asyncio.sleep(delay_s)
        failures = 0
        while failures < self.max_errors:
            self.tail.replay()
            chunks = self.client.tail_job_logs(self.submission_id)
            try:
                while True:
                    try:
                        chunk = await anext(chunks)
                    except StopAsyncIteration:
                        return
                    except _TAIL_ERRORS as exc:
                        failures += 1
                        log.info("log tail of Ray job %s dropped (%d/%d): %s",
                                 self.submission_id, failures, self.max_errors, exc)
                        break
                    failures = 0
                    self.tail.feed(chunk)
            finally:
                await chunks.aclose()
            await asyncio.sleep(min(failures, 5))
        log.warning("Ray's log tail of job %s keeps failing: polling its whole log instead",
                    self.submission_id)
        while True:
            text = await self._call(self.client.get_job_logs)
            if text is not None:
                self.tail.replay()
                self.tail.feed(text)
            await asyncio.sleep(self.status_every_s)

    async def _flush(self, pump: asyncio.Task[None]) -> bool:
        """End the tail and hand over the rest of the log from one whole read of it."""
        text = await self._call(self.client.get_job_logs)
        if text is None:
            return False
        pump.cancel()  # runs no more before the next await: the replay below is ours
        self.tail.replay()
        self.tail.feed(text)
        self.tail.finish()
        return True

    async def run(self, timeout_s: float | None) -> JobStatus:
        """Hand over the log until the job ends (its final status) or times out."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s
        pump = asyncio.create_task(self._pump())
        try:
            while True:
                wait_s = self.status_every_s
                if deadline is not None:
                    wait_s = max(0.0, min(wait_s, deadline - loop.time()))
                await asyncio.wait({pump}, timeout=wait_s)
                if pump.done():
                    pump.result()  # an error of on_lines ends the follow
                status = await self._call(self.client.get_job_status)
                if status is not None:
                    self.status = status
                if self.status in TERMINAL and await self._flush(pump):
                    return self.status
                if pump.done():  # the tail closed early: reconnect after a pause
                    pump = asyncio.create_task(self._pump(self.status_every_s))
                if deadline is not None and loop.time() >= deadline:
                    assert timeout_s is not None
                    await self._stop(pump)
                    raise JobTimeout(f"Ray job {self.submission_id} exceeded {timeout_s:g} s "
                                     f"and was stopped (now {self.status})",
                                     self.submission_id, timeout_s, self.status)
        finally:
            pump.cancel()

    async def _stop(self, pump: asyncio.Task[None], wait_s: float = 30.0) -> None:
        """Ask Ray to stop the job, wait for a terminal status, flush the remaining log."""
        await asyncio.to_thread(self.client.stop_job, self.submission_id)
        deadline = asyncio.get_running_loop().time() + wait_s
        while self.status not in TERMINAL and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.5)
            self.status = await self._call(self.client.get_job_status) or self.status
        with contextlib.suppress(RayUnavailable):
            await self._flush(pump)


def follow(client: JobSubmissionClient, submission_id: str,
           on_lines: Callable[[list[str]], None], timeout_s: float | None = None,
           status_every_s: float = 1.0, max_errors: int = 5) -> JobStatus:
    """Stream a job's new log lines to `on_lines` until it ends; return its final status.

    Lines come from Ray's log tail, which sends only what the driver adds, so a long
    run's log is not downloaded again and again; a dropped connection is re-opened and
    what was already handed over is skipped, so no line arrives twice (a new `follow`
    of the same job, e.g. after a task retry, starts from the first line again). Once
    the job has ended, one read of the whole log fills in anything the tail missed and
    the last line arrives even without its newline. The status is checked every
    `status_every_s`; `max_errors` API failures in a row raise `RayUnavailable`.

    After `timeout_s` the job is stopped and `JobTimeout` raised. Any exception or
    interrupt (KeyboardInterrupt, task cancellation, an error in `on_lines`) stops the
    job too: a training run nobody watches only burns the cluster. Callers that are
    cancelled by signal must turn SIGTERM into an exception for this to apply.
    """
    follower = _Follower(client, submission_id, on_lines, status_every_s, max_errors)
    try:
        return asyncio.run(follower.run(timeout_s))
    except JobTimeout:
        raise
    except BaseException:
        if follower.status not in TERMINAL:
            log.warning("stopping Ray job %s: its follower is going away", submission_id)
            with contextlib.suppress(Exception):
                client.stop_job(submission_id)
        raise
