#!/usr/bin/env bash
# Compile the GPU cluster's environment (pyproject's base dependencies + the `gpu` extra) into
# requirements-gpu.lock.txt (or the file given as $1) with uv, for Linux x86_64 and Python 3.11.
# Run it after changing either in pyproject.toml; tests/test_environments.py fails while the
# lock is stale, and re-resolves through this script.
# Resolves against pip's configured index (global.index-url or PIP_INDEX_URL, else uv's
# default) only: pip's extra indexes and find-links are this machine's local wheels, not the
# cluster's. uv is taken from PATH, or installed into a throwaway venv.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
OUT="$(realpath -m "${1:-$ROOT/requirements-gpu.lock.txt}")"

uv_bin="$(command -v uv || true)"
if [ -z "$uv_bin" ]; then
  tool_dir="$(mktemp -d)"
  trap 'rm -rf "$tool_dir"' EXIT
  "$PYTHON" -m venv "$tool_dir/venv"
  "$tool_dir/venv/bin/python" -m pip install --quiet uv
  uv_bin="$tool_dir/venv/bin/uv"
fi

index="${PIP_INDEX_URL:-$("$PYTHON" -m pip config get global.index-url 2>/dev/null || true)}"
index_args=()
[ -z "$index" ] || index_args=(--default-index "$index")

cd "$ROOT"
"$uv_bin" pip compile pyproject.toml --extra gpu \
  --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
  "${index_args[@]}" --no-config --quiet \
  --custom-compile-command "bash scripts/lock_gpu.sh" \
  -o "$OUT"
header="# The GPU cluster's environment: pyproject.toml's base dependencies + its \`gpu\` extra,
# for Linux x86_64, Python 3.11, CUDA 12.6 wheels. Regenerate: bash scripts/lock_gpu.sh.
# Install (image build): pip install -r requirements-gpu.lock.txt && pip install --no-deps -e .
# flash-attn 2.7.4.post1 is not in it (no wheel on the index; verl's CUDA actor imports it):
# build on verl's base image verl0.5-cu126-cudnn9.8-torch2.7.1-fa2.7.4, which has it."
{ echo "$header"; cat "$OUT"; } > "$OUT.new"
mv "$OUT.new" "$OUT"
