#!/usr/bin/env bash
# Set everything up in .venv (Python 3.11+), then run the demo job (skip it with --no-demo).
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first, pinned: this CPU build is on local disk here; an unpinned torch would pull a CUDA build.
.venv/bin/pip install -q "torch==2.13.0"
backends=()
for dir in backends/*/; do
  [ -f "$dir/pyproject.toml" ] && backends+=(-e "$dir")
done
.venv/bin/pip install -q -e ".[dev,datasets,parquet,tokens,emulator,eval,docs]" "${backends[@]}"
if [ "${1:-}" != "--no-demo" ]; then
  .venv/bin/tunesdk demo
fi
