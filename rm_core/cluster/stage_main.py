"""Entrypoint of a stage job: `python -m rm_core.cluster.stage_main <spec file>`.

Reads the spec the orchestrator wrote, calls its function with its arguments on this
node, and writes the JSON result next to the spec. A spec it cannot read means the
artifacts root is not on storage this node mounts: that is said at once and exits with
EX_CONFIG, so the orchestrator does not retry it.
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import sys
from pathlib import Path

from rm_core.cluster.jobs import CONFIG_ERROR_EXIT
from rm_core.cluster.stage_jobs import RESULT_FILE


def call(function: str, args: dict) -> dict:
    module, _, name = function.partition(":")
    return getattr(importlib.import_module(module), name)(**args)


def main(argv: list[str]) -> int:
    spec_path = Path(argv[0])
    try:
        spec = json.loads(spec_path.read_text(encoding="utf-8"))
    except OSError as exc:
        print(f"ARTIFACTS NOT VISIBLE: node {socket.gethostname()} cannot read the job spec "
              f"{spec_path} ({exc.strerror}); the artifacts root must be on storage every Ray "
              "node mounts", file=sys.stderr)
        return CONFIG_ERROR_EXIT
    print(f"stage {spec['stage']}: {spec['function']} on {socket.gethostname()}", flush=True)
    result = call(spec["function"], spec["args"])
    target = spec_path.with_name(RESULT_FILE)
    temporary = target.with_name(f".{RESULT_FILE}.{os.getpid()}")
    temporary.write_text(json.dumps(result, default=str), encoding="utf-8")
    os.replace(temporary, target)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
