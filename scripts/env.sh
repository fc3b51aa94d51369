#!/usr/bin/env bash
# Create (or refresh) the project's virtualenv in .venv; sourced by run.sh and test.sh.
# One venv: the orchestrator, the `cpu` extra (CPU training and evaluation) and `dev`.
# Reinstalls only when pyproject.toml or the extras installed changed since the last install.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${RM_PIPELINE_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating virtualenv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
EXTRAS="cpu,dev"
stamp="$VENV/.rm-pipeline-installed"
wanted="$({ cat "$ROOT/pyproject.toml"; echo "extras=$EXTRAS"; } | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
  echo "[setup] installing rm-pipeline and its dependencies (a few minutes on a fresh machine)"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e "$ROOT[$EXTRAS]"
  "$VENV/bin/python" -m pip check
  echo "$wanted" > "$stamp"
fi
export PATH="$VENV/bin:$PATH"
export GX_ANALYTICS_ENABLED=false
export DO_NOT_TRACK=1
