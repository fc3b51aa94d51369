"""The Ray cluster a run's jobs go to (`RayTarget`): a configured job API, or a private
local head started for the run."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pydantic import BaseModel
from ray.job_submission import JobSubmissionClient

from rm_core.cluster.credentials import SecretLookup, auth_env
from rm_core.cluster.jobs import job_client
from rm_core.cluster.local_head import LocalRayCluster
from rm_core.config import RayConfig

__all__ = ["RayTarget", "ray_target", "target_client"]

log = logging.getLogger(__name__)


class RayTarget(BaseModel):
    """Where to submit: a job API address and, for a local head, its token file."""

    address: str
    token_path: str | None = None


@contextmanager
def ray_target(config: RayConfig, on_info: Callable[[str], None] = log.info
               ) -> Iterator[RayTarget]:
    """The configured cluster, or a private local Ray head for the duration of the block.

    `on_info` hears which one (the orchestrator passes its run logger).
    """
    if config.address:
        on_info(f"training on the Ray cluster at {config.address}")
        yield RayTarget(address=config.address)
        return
    with LocalRayCluster(num_cpus=config.num_cpus) as cluster:
        on_info(f"started a local Ray head, dashboard {cluster.dashboard_url}")
        yield RayTarget(address=cluster.dashboard_url, token_path=str(cluster.token_path))


def target_client(target: RayTarget, secret: SecretLookup) -> JobSubmissionClient:
    """An authenticated job client for `target` (see `credentials.auth_env`)."""
    return job_client(target.address, auth_env(target.address, target.token_path, secret))
