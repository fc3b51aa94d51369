"""Content-addressed stage outputs: a directory per (stage, key), built atomically.

A stage writes into a temporary sibling directory and renames it into place only when
every file is written, with a `_SUCCESS.json` manifest of the files and the stage's
result. So a half-written output is never mistaken for a finished one, and a deleted
or damaged output is simply rebuilt.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from rm_core.errors import RmPipelineError

MANIFEST = "_SUCCESS.json"
# Why a stage's output cannot be written: full disk, quota or file size limit, no
# permission, read-only file system.
UNWRITABLE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EPERM, errno.EROFS}


class ArtifactWriteError(RmPipelineError):
    """A stage output could not be written (disk full, permissions)."""


PACKAGE_DIR = Path(__file__).resolve().parent
# The rm_core source (files, or folders of .py files) each stage's output depends on, so
# editing a report, a plot or a log line changes no key. Keys chain (split's key holds
# ingest's, verl's split's, train's verl's; merge and eval fingerprint the model files
# they read), so a stage lists only the code it runs itself: `data/stage.py`, the driver
# of ingest, split and verl, is listed once, under ingest. "promote" is not a stage with
# an output but the decision on a run (`rm_core.evaluation.promotion`).
STAGE_CODE: dict[str, tuple[str, ...]] = {
    "ingest": ("data/ingest_stage.py", "data/stage_io.py", "data/sources.py",
               "data/schema.py", "data/coerce.py", "data/validate.py", "data/convert"),
    "split": ("data/split_stage.py", "data/split.py"),
    "verl": ("data/verl_stage.py", "data/verl_rows.py", "judge/templates.py"),
    "train": ("training/run.py", "training/spec.py", "training/job.py", "training/launcher.py",
              "training/worker_setup.py", "training/cpu_patches.py", "training/cpu_steps.py",
              "training/judge_dataset.py", "training/judge_metrics.py", "training/sft_spec.py",
              "judge/rewards.py", "judge/templates.py"),
    "sft": ("training/sft.py", "training/sft_examples.py", "training/sft_spec.py",
            "training/ray_train.py", "judge/generation.py", "judge/rewards.py",
            "judge/templates.py"),
    "bt": ("training/bt.py", "training/bt_pairs.py", "training/bt_spec.py",
           "training/sft_spec.py", "training/ray_train.py"),
    "merge": ("evaluation/checkpoints.py", "evaluation/safe_merge.py"),
    "eval": ("evaluation/stage.py", "evaluation/runner.py", "evaluation/backends.py",
             "evaluation/metrics.py", "evaluation/pointwise.py", "evaluation/pairwise.py",
             "evaluation/settings.py",
             "judge/generation.py", "judge/rewards.py", "judge/templates.py"),
    "bt-eval": ("evaluation/bt_scoring.py", "evaluation/metrics.py", "evaluation/pairwise.py",
                "evaluation/runner.py", "evaluation/pointwise.py", "evaluation/backends.py",
                "evaluation/settings.py", "evaluation/stage.py", "training/bt.py",
                "training/bt_pairs.py", "training/bt_spec.py", "training/sft_spec.py",
                "training/ray_train.py", "judge/generation.py", "judge/rewards.py",
                "judge/templates.py"),
    "promote": ("evaluation/registry.py", "evaluation/promotion.py", "evaluation/gate.py",
                "evaluation/text_baseline.py", "benchmarks/scoring.py", "benchmarks/items.py",
                "benchmarks/units.py"),
    "learning-signal": ("judge/generation.py", "judge/rewards.py", "judge/templates.py"),
    "bench": ("benchmarks/stage.py", "benchmarks/units.py", "benchmarks/items.py",
              "evaluation/runner.py", "evaluation/backends.py", "evaluation/metrics.py",
              "evaluation/pointwise.py", "evaluation/pairwise.py", "evaluation/settings.py",
              "judge/generation.py", "judge/rewards.py", "judge/templates.py"),
}


def code_version(stage: str | None = None) -> str:
    """Hash of the source `stage` runs (`STAGE_CODE`); without a stage, of all of rm_core,
    which is what a champion's provenance records."""
    if stage is None:
        return _source_digest(PACKAGE_DIR, None)
    if stage not in STAGE_CODE:
        raise ValueError(f"unknown stage {stage!r}; stages with a code version: "
                         f"{', '.join(STAGE_CODE)}")
    return _source_digest(PACKAGE_DIR, stage)


@cache
def _source_digest(package: Path, stage: str | None) -> str:
    digest = hashlib.sha256()
    for path in _source_files(package, stage):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _source_files(package: Path, stage: str | None) -> list[Path]:
    """The .py files hashed for `stage`, sorted; a listed path that is gone is an error,
    not a silently narrower key."""
    if stage is None:
        return sorted(package.rglob("*.py"))
    files: set[Path] = set()
    for entry in STAGE_CODE[stage]:
        path = package / entry
        if path.is_dir():
            files.update(path.rglob("*.py"))
        elif path.is_file():
            files.add(path)
        else:
            raise FileNotFoundError(f"STAGE_CODE[{stage!r}] lists {entry}, which is not in "
                                    f"{package}: update the table in {Path(__file__).name}")
    return sorted(files)


def stage_key(stage: str, **inputs: Any) -> str:
    """Key of a stage run: its name, its inputs (JSON-able) and its code version."""
    payload = json.dumps(
        {"stage": stage, "code": code_version(stage), "inputs": inputs},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:24]


def stage_dir(root: Path, stage: str, key: str) -> Path:
    """Where the output of `stage` with `key` lives under the artifacts root."""
    return root / stage / key


def is_complete(directory: Path) -> bool:
    """True when `directory` has a manifest and every file it lists, at its recorded size."""
    manifest = _read_manifest(directory)
    if manifest is None:
        return False
    return all(
        (directory / name).is_file() and (directory / name).stat().st_size == size
        for name, size in manifest["files"].items()
    )


def read_result(directory: Path) -> dict[str, Any]:
    """The result a completed stage recorded in its manifest."""
    manifest = _read_manifest(directory)
    if manifest is None:
        raise FileNotFoundError(f"no complete stage output at {directory}")
    return manifest["result"]


def _read_manifest(directory: Path) -> dict[str, Any] | None:
    try:
        return json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a fresh temporary directory that replaces `target` when the block succeeds."""
    building = target.with_name(f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        building.mkdir()
        yield building
        if target.exists():
            shutil.rmtree(target)
        os.replace(building, target)
    except OSError as exc:
        if exc.errno not in UNWRITABLE:
            raise
        raise ArtifactWriteError(
            f"cannot write {target}: {exc.strerror or exc} "
            f"({exc.filename or target}); nothing of it was kept"
        ) from exc
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)


def finish(building: Path, result: dict[str, Any]) -> None:
    """Record the files written in `building` and the stage `result` in its manifest."""
    files = {
        path.relative_to(building).as_posix(): path.stat().st_size
        for path in sorted(building.rglob("*"))
        if path.is_file()
    }
    manifest = {"files": files, "result": result}
    (building / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str), "utf-8")


def record_node(directory: Path, stage: str, job_id: str, node_id: str | None) -> None:
    """Note in `directory`'s manifest which Ray job made it, on which node (a directory
    without a manifest, such as a job's own work dir, gets one)."""
    ran = {"ray_stage": stage, "ray_job": job_id, "ray_node_id": node_id}
    manifest = _read_manifest(directory)
    if manifest is None:
        finish(directory, ran)
        return
    manifest["result"] = {**manifest["result"], **ran}
    temporary = directory / f".{MANIFEST}.{os.getpid()}"
    temporary.write_text(json.dumps(manifest, indent=2, default=str), "utf-8")
    os.replace(temporary, directory / MANIFEST)
