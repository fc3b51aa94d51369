#!/usr/bin/env bash
# The main job on the embedded defaults: set up .venv, then run the pointwise-train flow
# (sample data -> SmolLM2-135M -> GRPO on a local Ray head). Extra arguments go to the
# flow's command line, e.g. --max-steps 4 or another config file.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
python -m flows.pointwise_train "$@"
