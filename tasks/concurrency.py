"""One training of an experiment at a time: a Prefect global concurrency limit per experiment.

A second run of the same experiment (a manual run while the nightly one trains) waits for
the slot, saying so in its log, or ends as skipped when the experiment's config says
`when_busy: skip`. Different experiments have different limits and train side by side.
The limit is created with one slot the first time an experiment trains; raising it in the
UI (Concurrency) lets that many runs of the experiment train at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from prefect import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.logging import get_run_logger

from rm_core.config import ExperimentConfig

# The slot is renewed while held; a run killed outright frees it when this lease expires.
LEASE_S = 60.0


def slot_name(experiment: str) -> str:
    """Prefect refuses / % & > < in a limit's name."""
    return "rm-pipeline-train:" + re.sub(r"[/%&><]", "-", experiment)


def _holders(name: str) -> int:
    """Slots of the limit in use now, creating the limit (one slot) if it does not exist:
    Prefect runs unlimited on a limit that does not exist."""
    with get_client(sync_client=True) as client:
        try:
            limit = client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            with suppress(ObjectAlreadyExists):  # another run created it first
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=1))
            limit = client.read_global_concurrency_limit_by_name(name)
    return limit.active_slots if limit.active_slots >= limit.limit else 0


@contextmanager
def training_slot(config: ExperimentConfig) -> Iterator[str | None]:
    """Hold the experiment's training slot; yields None when held, or, with
    `when_busy: skip` and the slot taken, the reason to skip (nothing is held)."""
    logger = get_run_logger()
    name = slot_name(config.name)
    if busy := _holders(name):
        if config.when_busy == "skip":
            reason = (f"experiment {config.name!r} is training in another run ({busy} of its "
                      f"slots in use, limit {name!r}) and when_busy is 'skip'")
            logger.info("skipped: %s", reason)
            yield reason
            return
        logger.info("experiment %r is training in another run (limit %r full): waiting for "
                    "it to finish before training. A run killed outright frees its slot when "
                    "its lease expires, which a temporary server (a flow run without the "
                    "stack) never checks: if no run of %r is running, free it with `prefect "
                    "global-concurrency-limit update %s --active-slots 0`",
                    config.name, name, config.name, name)
    with concurrency(name, occupy=1, strict=True, lease_duration=LEASE_S):
        if busy:
            logger.info("the other run of %r finished: training now", config.name)
        yield None
