"""One training stage: a GRPO job on Ray from verl parquet and a model to checkpoints.

The stage directory is named by a hash of the data, the spec, the model and the code,
and holds verl's checkpoints as they are written, so a failed run that is started
again resumes from its last checkpoint (`resume_mode=auto`). It is marked complete
only when the job has succeeded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from ray.job_submission import JobStatus, JobSubmissionClient

from rm_core.artifacts import finish, is_complete, read_result, stage_dir, stage_key
from rm_core.cluster.job_log import follow
from rm_core.cluster.jobs import live_submission_id, raise_for_status, submit_or_attach
from rm_core.config import DataConfig
from rm_core.data.verl_stage import VerlResult
from rm_core.training.job import REWARD_FILE, submission_id, training_job
from rm_core.training.monitor import TrainingMonitor
from rm_core.training.spec import RunPaths, TrainSpec

ACTIVE = {JobStatus.PENDING, JobStatus.RUNNING}


class TrainResult(BaseModel):
    """A finished training run: where its checkpoints are and what its steps logged."""

    key: str
    dir: Path
    submission_id: str
    last_step: int
    total_steps: int
    metrics: list[dict[str, float | int | None]]
    zero_signal_steps: list[int]
    ray_node_id: str | None = None  # where the job's driver ran (from the job API)
    sft_model: Path | None = None  # the SFT warm start GRPO began from, if any

    @property
    def checkpoint_dir(self) -> Path:
        return self.dir / "checkpoints"


def model_fingerprint(model: str | Path) -> str:
    """Identity of a model folder (file names, sizes, mtimes) or of a hub name."""
    path = Path(model)
    if not path.is_dir():
        return str(model)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        stat = file.stat()
        digest.update(f"{file.relative_to(path)}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def sft_key(verl: VerlResult, spec: TrainSpec, model: str | Path) -> str:
    """The SFT warm start's key: the verl rows (data, data config, template), the SFT
    settings, the thinking mode and the base model."""
    return stage_key("sft", data=verl.key, sft=spec.sft.model_dump(mode="json"),
                     thinking=spec.thinking, model=model_fingerprint(model))


def sft_dir(verl: VerlResult, spec: TrainSpec, model: str | Path, root: Path) -> Path | None:
    """The SFT model GRPO starts from; None when the spec has no SFT warm start."""
    return stage_dir(root, "sft", sft_key(verl, spec, model)) if spec.sft.enabled else None


def train_key(verl: VerlResult, spec: TrainSpec, model: str | Path) -> str:
    """Depends on the verl rows, the GRPO spec, the base model and, with a warm start, the
    SFT stage's key (the SFT settings weigh only when SFT is on)."""
    return stage_key(
        "train", data=verl.key, spec=spec.model_dump(mode="json", exclude={"sft"}),
        model=model_fingerprint(model),
        sft=sft_key(verl, spec, model) if spec.sft.enabled else None,
    )


def train_dir(verl: VerlResult, spec: TrainSpec, model: str | Path, root: Path) -> Path:
    """Where the run of these inputs keeps its checkpoints and result."""
    return stage_dir(root, "train", train_key(verl, spec, model))


def expected_steps(spec: TrainSpec, train_rows: int) -> int:
    """Steps verl will run: full batches per epoch times epochs, capped by total steps."""
    steps = (train_rows // spec.grpo.train_batch_size) * spec.grpo.total_epochs
    cap = spec.grpo.total_training_steps
    return min(steps, cap) if cap else steps


def run_paths(spec: TrainSpec, verl: VerlResult, model: str | Path, out: Path,
              data: DataConfig, start: Path | None = None) -> RunPaths:
    """The concrete files of one run (spec-given data files win over the data stage's)
    and what the reward needs to know about the data's labels and template. `start` is
    the SFT model GRPO begins from instead of `model`."""
    return RunPaths(
        model=start or Path(model),
        train_files=spec.train_files or verl.train_path,
        val_files=spec.val_files or verl.val_path,
        checkpoint_dir=spec.checkpoint_dir or out / "checkpoints",
        reward_file=REWARD_FILE,
        experiment_name=out.name,
        dimension=data.dimension,
        dimensions=data.dimensions,
        weights=data.dimension_weights,
        allow_tie=data.ties == "keep",
        max_score=data.max_score,
        answer_prefix=data.template.answer_prefix,
    )


def active_stage_job(client: JobSubmissionClient, stage: str,
                     checkpoints_kept: bool = False) -> str | None:
    """A job already training this stage, left by an orchestrator run whose worker died:
    pending or running, or (when its checkpoints are still there) one that finished while
    nobody followed it. The new run follows it instead of starting a duplicate."""
    jobs = [job for job in client.list_jobs() if (job.metadata or {}).get("stage") == stage]
    for wanted in (ACTIVE, {JobStatus.SUCCEEDED} if checkpoints_kept else set()):
        found = next((job.submission_id for job in jobs if job.status in wanted), None)
        if found:
            return found
    return None


def train(
    spec: TrainSpec,
    paths: RunPaths,
    out: Path,
    client: JobSubmissionClient,
    run_id: str,
    monitor: TrainingMonitor,
    on_lines: Callable[[list[str]], None],
    secrets: Mapping[str, str] | None = None,
    timeout_s: float | None = None,
    placement: Mapping[str, Any] | None = None,
    sft_model: Path | None = None,
) -> TrainResult:
    """Run (or re-attach to) the GRPO job of `spec` and wait for it; raise if it fails.

    `placement` (the job API's entrypoint resources) puts the driver on a node that
    has them; verl's own workers ask for their CPUs or GPUs themselves."""
    if is_complete(out):
        return TrainResult.model_validate(read_result(out))
    out.mkdir(parents=True, exist_ok=True)
    job = training_job(spec, paths, run_id, secrets)
    kept = latest_checkpoint_step(paths.checkpoint_dir) is not None
    job_id = active_stage_job(client, out.name, kept) or live_submission_id(
        client, submission_id(run_id, out.name))
    submit_or_attach(client, job_id, job.entrypoint, job.runtime_env, job.metadata,
                     placement)

    def consume(lines: list[str]) -> None:
        monitor.feed(lines)
        on_lines(lines)

    status = follow(client, job_id, consume, timeout_s=timeout_s)
    raise_for_status(client, job_id, status)
    result = TrainResult(
        key=out.name,
        dir=out,
        submission_id=job_id,
        last_step=latest_checkpoint_step(paths.checkpoint_dir) or monitor.last_step,
        total_steps=monitor.total_steps,
        metrics=monitor.table(),
        zero_signal_steps=monitor.zero_signal_steps,
        ray_node_id=client.get_job_info(job_id).driver_node_id,
        sft_model=sft_model,
    )
    finish(out, result.model_dump(mode="json"))
    return result


def sft_start(run_dir: Path) -> Path | None:
    """The SFT model a finished run started from (evaluation judges it beside the base)."""
    if not is_complete(run_dir):
        return None
    started = read_result(run_dir).get("sft_model")
    return Path(started) if started else None


def latest_checkpoint_step(checkpoint_dir: Path) -> int | None:
    """The step verl recorded as its last checkpoint, if any."""
    tracker = checkpoint_dir / "latest_checkpointed_iteration.txt"
    try:
        return int(tracker.read_text().strip())
    except (OSError, ValueError):
        return None


def stop_run_jobs(client: JobSubmissionClient, run_id: str) -> list[str]:
    """Stop every pending or running job an orchestrator run submitted; their ids."""
    stopped = []
    for job in client.list_jobs():
        if (job.metadata or {}).get("run_id") == run_id and job.status in ACTIVE:
            client.stop_job(job.submission_id)
            stopped.append(job.submission_id)
    return stopped
