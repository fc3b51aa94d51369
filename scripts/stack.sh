#!/usr/bin/env bash
# The local stack: `bash scripts/stack.sh up|down|status [--prefect-port N] [--ray-port N]
# [--state-dir DIR]` (see `python -m deployments.stack --help`).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
python -m deployments.stack "$@"
