#!/usr/bin/env bash
# The main job on the embedded defaults: set up .venv, then run the prepare-data flow
# on the shipped HelpSteer2-style sample. Extra arguments go to the flow's command line.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
python -m flows.prepare_data "$@"
