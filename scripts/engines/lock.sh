#!/usr/bin/env bash
# Regenerate one engine's lock file by a real resolve: a fresh virtualenv, torch pinned first,
# then the engine and tunesdk's core dependencies through pip's resolver, then `pip freeze`.
# Usage: bash scripts/engines/lock.sh unsloth|axolotl|trl|skypilot [python]   (takes minutes)
# The result lands in src/tunesdk/engine_locks/NAME.txt, which `tunesdk engine install NAME`
# installs with --no-deps (no resolver). Commit it together with any version change below.
set -euo pipefail
cd "$(dirname "$0")/../.."
name="${1:?usage: lock.sh unsloth|axolotl|trl|skypilot [python]}"
python="${2:-python3.11}"
torch="torch==2.13.0"
core=("pydantic>=2.7" "httpx>=0.27" "pyyaml>=6.0" "typer>=0.12" "rich>=13.7")
case "$name" in
  unsloth) engine=("unsloth==2026.10.9"); remove=(torchvision) ;;
  axolotl) engine=("axolotl==0.19.0"); remove=() ;;
  trl) engine=("trl==1.16.0" "transformers==5.24.0" "peft==0.21.2" "datasets==5.2.0"
               "accelerate==1.15.0" "tokenizers>=0.21"); remove=() ;;
  # the SkyPilot client the skypilot launcher drives: no torch, no tunesdk core (it runs a
  # standalone driver script)
  skypilot) engine=("skypilot==0.14.1"); torch=""; core=(); remove=() ;;
  *) echo "unknown engine $name" >&2; exit 2 ;;
esac
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$python" -m venv "$work/venv"
pip=("$work/venv/bin/python" -m pip install -q)
[ -z "$torch" ] || "${pip[@]}" "$torch"
"${pip[@]}" "${engine[@]}" "${core[@]+"${core[@]}"}"
for package in "${remove[@]+"${remove[@]}"}"; do "$work/venv/bin/python" -m pip uninstall -q -y "$package"; done
out="src/tunesdk/engine_locks/$name.txt"
{
  echo "# $name engine: exact pins from a real resolve (scripts/engines/lock.sh $name), $("$python" -c 'import sys; print("Python %d.%d" % sys.version_info[:2])')."
  if [ -n "$torch" ]; then
    echo "# torch is installed first, with its own dependencies; every other line with --no-deps."
  else
    echo "# no torch: every line is installed with --no-deps."
  fi
  [ ${#remove[@]} -eq 0 ] || echo "# removed after install: ${remove[*]}"
  # local labels (+cpu) dropped: the same pin takes the CUDA build on GPU machines
  "$work/venv/bin/python" -m pip freeze | sed -E 's/^(torch==[^+]*)\+.*/\1/' | grep -v -E '^(-e |tunesdk)'
} > "$out"
echo "wrote $out ($(grep -c '==' "$out") pins)"
