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


@cache
def code_version() -> str:
    """Hash of rm_core's source: any change to the library invalidates every stage."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def stage_key(stage: str, **inputs: Any) -> str:
    """Key of a stage run: its name, its inputs (JSON-able) and the code version."""
    payload = json.dumps(
        {"stage": stage, "code": code_version(), "inputs": inputs},
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
