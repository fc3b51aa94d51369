"""Model stages as Ray jobs: the orchestrator submits a stage function, the cluster runs it
where the model lives, and both sides meet in the stage's directory.

A stage job is `python -m rm_core.cluster.stage_main <spec file>`. The orchestrator writes
the spec (which function, its JSON arguments) into the stage's work directory under the
artifacts root; the job reads it, calls the function on the node its entrypoint
resources placed it on, and writes the function's JSON result next to the spec. So the
orchestrator only ever reads small files, and an artifacts root the cluster's nodes
cannot see fails the first job at once, naming the path. The node is taken from the job
API (`driver_node_id`): inside a driver Ray may report the head when two raylets share
an address.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from ray.job_submission import JobSubmissionClient

from rm_core.cluster.job_log import follow
from rm_core.cluster.jobs import raise_for_status, submit_or_attach
from rm_core.cluster.resources import JobResources
from rm_core.config import REPO_ROOT
from rm_core.errors import RayUnavailable, RmPipelineError

STAGE_MAIN = "rm_core.cluster.stage_main"
SPEC_FILE = "job_spec.json"
RESULT_FILE = "job_result.json"
# What a job's working_dir never needs: data, weights, caches, the repo's own history.
# gitignore patterns: the repository's top-level folders are anchored with "/", or
# "data" and "benchmarks" would also drop the rm_core/data and rm_core/benchmarks packages.
CODE_EXCLUDES = [
    ".git", ".venv", "/artifacts", "/wandb", "/benchmarks", "/tests", "/data", "/docs",
    "*.parquet", "*.safetensors", "*.gguf", "__pycache__", ".pytest_cache", ".ruff_cache",
    ".hypothesis", "*.egg-info", ".stack",
]


class StageJob(BaseModel):
    """One model stage's job: the function the cluster calls and where it works."""

    stage: str
    function: str = Field(description="`module:function`, importable from the job's code")
    args: dict[str, Any] = Field(default_factory=dict)
    work_dir: Path
    resources: JobResources = JobResources()


class StageJobResult(BaseModel):
    """What a finished stage job returned, and where it ran."""

    submission_id: str
    node_id: str | None
    result: dict[str, Any]


class ClusterLacksResources(RmPipelineError):
    """No node of the cluster offers what a job asks for: it would stay PENDING forever."""


def node_resources(client: JobSubmissionClient) -> list[dict[str, float]]:
    """Total resources of each live node, from the dashboard's state API."""
    # The job client is authenticated already; its request helper reaches the state API.
    response = client._do_request("GET", "/api/v0/nodes?limit=1000&detail=false")
    if response.status_code != 200:
        raise RayUnavailable(f"cannot list the Ray cluster's nodes: HTTP {response.status_code}")
    nodes = response.json()["data"]["result"]["result"]
    return [node["resources_total"] for node in nodes if node.get("state") == "ALIVE"]


def check_resources(client: JobSubmissionClient, wanted: JobResources, what: str) -> None:
    """Refuse, before submitting, a job that no node of the cluster could ever place."""
    needs = {"CPU": wanted.num_cpus, "GPU": wanted.num_gpus, **wanted.resources}
    needs = {name: amount for name, amount in needs.items() if amount}
    nodes = node_resources(client)
    if any(all(node.get(name, 0) >= amount for name, amount in needs.items())
           for node in nodes):
        return
    offers = "; ".join(
        ", ".join(f"{name} {amount:g}" for name, amount in sorted(node.items())
                  if not name.startswith(("node:", "memory", "object_store")))
        or "nothing" for node in nodes) or "no live node"
    missing = ", ".join(sorted(name for name, amount in needs.items()
                               if all(node.get(name, 0) < amount for node in nodes)))
    raise ClusterLacksResources(
        f"{what} needs {', '.join(f'{k} {v:g}' for k, v in needs.items())} on one node, "
        f"but no node of the Ray cluster offers it (missing: {missing or 'all together'}); "
        f"the nodes offer: {offers}. Use a profile that fits this cluster, or a cluster with "
        f"those resources.")


def entrypoint(job: StageJob) -> str:
    return shlex.join(["python", "-m", STAGE_MAIN, str(job.work_dir / SPEC_FILE)])


def runtime_env(job: StageJob, env: dict[str, str] | None = None) -> dict[str, Any]:
    """The project's code as the job's working_dir, threads sized to its CPUs."""
    threads = str(job.resources.threads())
    return {
        "working_dir": str(REPO_ROOT),
        "excludes": CODE_EXCLUDES,
        "env_vars": {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
                     "TOKENIZERS_PARALLELISM": "false", **(env or {})},
    }


def write_spec(job: StageJob) -> Path:
    """The spec file the job reads: also the probe that the cluster sees the artifacts."""
    job.work_dir.mkdir(parents=True, exist_ok=True)
    path = job.work_dir / SPEC_FILE
    temporary = path.with_name(f".{SPEC_FILE}.{os.getpid()}")
    temporary.write_text(json.dumps({"stage": job.stage, "function": job.function,
                                     "args": job.args}, indent=2, default=str), "utf-8")
    os.replace(temporary, path)
    (job.work_dir / RESULT_FILE).unlink(missing_ok=True)
    return path


def run_stage_job(client: JobSubmissionClient, job: StageJob, submission_id: str,
                  on_lines: Callable[[list[str]], None], metadata: dict[str, str],
                  env: dict[str, str] | None = None,
                  timeout_s: float | None = None) -> StageJobResult:
    """Submit (or re-attach to) the stage's job, stream its log, return its result."""
    write_spec(job)
    submit_or_attach(client, submission_id, entrypoint(job), runtime_env(job, env),
                     {**metadata, "stage": job.stage}, placement=job.resources.placement())
    status = follow(client, submission_id, on_lines, timeout_s=timeout_s)
    raise_for_status(client, submission_id, status)
    node_id = client.get_job_info(submission_id).driver_node_id
    result = json.loads((job.work_dir / RESULT_FILE).read_text(encoding="utf-8"))
    return StageJobResult(submission_id=submission_id, node_id=node_id, result=result)
