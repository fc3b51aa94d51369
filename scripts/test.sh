#!/usr/bin/env bash
# The test suite: set up .venv, lint, then run every test. Extra arguments go to pytest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
ruff check .
python -m pytest "$@"
