"""verl checkpoints: find a run's `global_step_N` folders and merge them to HF folders."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from rm_core.artifacts import atomic_dir, finish, is_complete
from rm_core.errors import RmPipelineError

_STEP = re.compile(r"global_step_(\d+)$")


class CheckpointError(RmPipelineError):
    """A checkpoint is missing, incomplete or cannot be merged."""


def checkpoint_steps(checkpoint_dir: Path) -> dict[int, Path]:
    """Step -> `global_step_N` folder, for every step whose model verl still keeps under
    `checkpoint_dir` (past `max_checkpoints_to_keep` it deletes `actor/` but leaves the
    folder with the dataloader state)."""
    steps = {}
    for child in checkpoint_dir.iterdir() if checkpoint_dir.is_dir() else ():
        match = _STEP.match(child.name)
        if match and (child / "actor").is_dir():
            steps[int(match.group(1))] = child
    if not steps:
        raise CheckpointError(f"no global_step_N checkpoints in {checkpoint_dir}")
    return dict(sorted(steps.items()))


def merge(step_dir: Path, target: Path) -> Path:
    """Merge the FSDP shards of a step's actor into a Hugging Face folder (done once), reading
    the shards with weights_only loading (`rm_core.evaluation.safe_merge`)."""
    if is_complete(target):
        return target
    actor = step_dir / "actor"
    if not (actor / "huggingface").is_dir():
        raise CheckpointError(f"{actor} is not a verl actor checkpoint (no huggingface/ inside)")
    with atomic_dir(target) as building:
        command = [sys.executable, "-m", "rm_core.evaluation.safe_merge", "merge",
                   "--backend", "fsdp", "--local_dir", str(actor), "--target_dir", str(building)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
            raise CheckpointError(f"merging {actor} failed (exit {done.returncode}):\n{tail}")
        finish(building, {"source": str(step_dir)})
    return target
