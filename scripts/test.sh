#!/usr/bin/env bash
# Run every check: lint, format, types, then the whole test suite (offline, CPU only).
set -euo pipefail
cd "$(dirname "$0")/.."
# a fresh checkout sets everything up; otherwise only the engine environments (cached: seconds)
if [ -x .venv/bin/tunesdk ]; then bash scripts/setup.sh --engines; else bash scripts/setup.sh --no-demo; fi
.venv/bin/ruff check src backends tests benchmarks scripts $(ls -d examples 2>/dev/null)
.venv/bin/ruff format --check src backends tests benchmarks scripts $(ls -d examples 2>/dev/null)
.venv/bin/mypy src
# The docs site: --strict fails on any broken link, missing page or docstring problem. (No --quiet:
# it hides the warnings that --strict counts.)
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --site-dir site
.venv/bin/pytest -q "$@"
