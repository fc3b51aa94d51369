#!/usr/bin/env bash
# The main job on the embedded defaults: set up .venv, bring the local stack up (Prefect
# server, worker, Ray head, deployments), run pointwise-train/manual through it and
# follow it to the end. Extra arguments become the run's parameters, e.g. --max-steps 4
# or another config file. The stack keeps running: `bash scripts/stack.sh down` stops it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
python -m deployments.stack up
python -m deployments.run "$@"
