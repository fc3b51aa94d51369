"""Cache keys for content-addressed stages that never report a deleted output as cached.

Prefect caches on a key; our stages also have an output directory. A key function
returns the stage's content key while its output is complete, and a one-off key when
the output was deleted after being cached, so the stage runs again instead of Prefect
answering `Cached` with files that no longer exist.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect.context import TaskRunContext

from rm_core.artifacts import is_complete

Plan = Callable[..., tuple[str | None, Path | None]]


def stage_cache_key(plan: Plan) -> Callable[[TaskRunContext, dict[str, Any]], str | None]:
    """A Prefect cache_key_fn from `plan(**task parameters) -> (content key, output dir)`.

    A None key disables caching for that call; a None output dir means the output is the
    key's own subject (e.g. a source file whose size and mtime are in the key).
    """

    def cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str | None:
        content_key, output = plan(**parameters)
        if content_key is None:
            return None
        key = hashlib.sha256(f"{content_key}|{output}".encode()).hexdigest()
        if output is None or is_complete(output):
            return key
        if context.result_store.exists(key):
            return f"{key}-rebuild-{uuid.uuid4().hex}"
        return key

    return cache_key
