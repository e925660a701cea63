#!/usr/bin/env bash
# Run every check: lint, format, types, then the whole test suite (offline, CPU only).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/tunesdk ] || bash scripts/setup.sh --no-demo
.venv/bin/ruff check src backends tests benchmarks $(ls -d examples 2>/dev/null)
.venv/bin/ruff format --check src backends tests benchmarks $(ls -d examples 2>/dev/null)
.venv/bin/mypy src
.venv/bin/pytest -q "$@"
