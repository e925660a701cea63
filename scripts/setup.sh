#!/usr/bin/env bash
# Set everything up in .venv (Python 3.11+), then the engine environments the real Unsloth and
# Axolotl tests train in, then run the demo job.
#   --no-demo      skip the demo
#   --no-engines   skip the engine environments (their tests then skip, saying why)
#   --engines      only the engine environments (what scripts/test.sh runs on every call)
#   --no-browser   skip Chromium for the dashboard's browser tests (they then skip, saying why)
# The engines are built once per machine into $TUNESDK_ENGINES_DIR (default ~/.tunesdk/engines)
# from the lock files in src/tunesdk/engine_locks (no resolver); an environment whose marker
# matches its lock file is left as it is, so a rerun costs seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
demo=1 engines=1 venv=1 browser=1
for arg in "$@"; do
  case "$arg" in
    --no-demo) demo=0 ;;
    --no-engines) engines=0 ;;
    --no-browser) browser=0 ;;
    --engines) venv=0 demo=0 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

build_engines() {
  local py311 started=$SECONDS
  py311="$(command -v python3.11 || true)"
  .venv/bin/tunesdk engine install unsloth --python "${py311:-$(command -v "$python")}"
  # Axolotl 0.19 is the newest release for Python 3.11, so its environment needs a 3.11
  if [ -n "$py311" ]; then
    .venv/bin/tunesdk engine install axolotl --python "$py311"
  else
    echo "no python3.11 here: the axolotl engine is not built (its real tests skip)" >&2
  fi
  # SkyPilot's client in its own environment (it pins click/uvicorn below the training stack's)
  .venv/bin/tunesdk engine install skypilot --python "${py311:-$(command -v "$python")}"
  echo "engine environments ready in $((SECONDS - started)) s"
}

# Debian's Chromium for the dashboard tests (Playwright drives it with executable_path; its own
# browser download is not used). Installed once; a machine that has it spends one `command -v`.
setup_browser() {
  if [ -n "${TUNESDK_CHROMIUM:-}" ] || command -v chromium >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the dashboard tests (skip: --no-browser)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
      || echo "apt-get install chromium failed: the dashboard's browser tests will skip" >&2
  else
    echo "no chromium here: the dashboard's browser tests will skip. Install it (Debian/Ubuntu:" \
      "sudo apt-get install chromium) or set TUNESDK_CHROMIUM to a Chromium binary" >&2
  fi
}

if [ "$venv" = 0 ]; then
  [ "$engines" = 0 ] || build_engines
  [ "$browser" = 0 ] || setup_browser
  exit 0
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first, pinned: this CPU build is on local disk here; an unpinned torch would pull a CUDA build.
.venv/bin/pip install -q "torch==2.13.0"
backends=()
for dir in backends/*/; do
  [ -f "$dir/pyproject.toml" ] && backends+=(-e "$dir")
done
.venv/bin/pip install -q -e ".[dev,datasets,parquet,tokens,emulator,serve,eval,docs,ray]" "${backends[@]}"
[ "$engines" = 0 ] || build_engines
[ "$browser" = 0 ] || setup_browser
if [ "$demo" = 1 ]; then
  .venv/bin/tunesdk demo
fi
