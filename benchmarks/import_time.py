"""How long ``import tunesdk`` and every everyday CLI command take, and what heavy modules they pull.

1. ``import tunesdk``, relative to ``import pydantic``, each timed in a fresh interpreter (so
   nothing is cached in ``sys.modules``); the median of ``--repeat`` runs.
2. Each ``tunesdk`` command that neither trains nor tokenizes (``--help``, ``backends``, ``runs``,
   ``status``, ``logs``, ``plan``, ``estimate`` of a hub model, ``validate``, ``stats``, ``schema``,
   ``resume`` of a completed run, ``plot``), as wall-clock seconds of the whole process and as a
   ratio to ``python -c pass`` timed alike, interleaved, median of ``--repeat``. Target: each
   under 1 s on the 2-core development machine (ratios make other machines comparable).

Usage: ``python benchmarks/import_time.py [--repeat 5] [--only-commands]``. Exits 1 when
``import tunesdk`` or any of these commands imports a heavy module (torch, transformers, ...).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _common
from _common import run_store_with_one_run

HEAVY = ("torch", "transformers", "openai", "together", "fireworks", "datasets", "trl", "peft")
#: what a command that neither trains nor tokenizes must never import
HEAVY_FOR_COMMANDS = ("torch", "transformers", "datasets", "trl", "peft")

TIMER = """
import json, sys, time
start = time.perf_counter()
import {module}
elapsed = time.perf_counter() - start
heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set({heavy!r}))
print(json.dumps({{"seconds": elapsed, "heavy": heavy}}))
"""


def time_import(module: str) -> tuple[float, list[str]]:
    """Seconds to import ``module`` in a fresh interpreter, and the heavy modules it loaded."""
    code = TIMER.format(module=module, heavy=HEAVY)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    result = json.loads(out)
    return float(result["seconds"]), list(result["heavy"])


def imported_by(args: list[str], env: dict[str, str], cwd: Path) -> set[str]:
    """Top-level modules ``tunesdk ARGS`` imports (from ``python -X importtime``)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tunesdk", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
    )
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") >= 2:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def wall_time(command: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, capture_output=True, check=False)
    return time.perf_counter() - start


def prepare(folder: Path) -> tuple[dict[str, str], dict[str, str]]:
    """A run store with one completed simulated run, a chat data file and a job file."""
    env, run_id = run_store_with_one_run(folder)
    commands = {
        "--help": "--help",
        "backends": "backends",
        "runs": "runs",
        "status": f"status {run_id}",
        "logs": f"logs {run_id}",
        "plan simulated": "plan job.yaml -b simulated",
        "plan trl": "plan job.yaml -b trl",
        "estimate": "estimate job.yaml",
        "validate": "validate train.jsonl",
        "stats": "stats train.jsonl",
        "schema": "schema",
        "resume (completed)": f"resume {run_id}",
        "plot": f"plot {run_id} -o {folder / 'loss.png'}",
    }
    return env, commands


def commands_report(repeat: int) -> list[str]:
    """Each command's median time and ratio to ``python -c pass``; the heavy modules it pulled."""
    heavy_found: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env, commands = prepare(folder)
        baseline: list[float] = []
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(repeat):  # interleaved, so background load hits all alike
            baseline.append(wall_time([sys.executable, "-c", "pass"], env, folder))
            for name, args in commands.items():
                command = [sys.executable, "-m", "tunesdk", *args.split()]
                times[name].append(wall_time(command, env, folder))
        base = statistics.median(baseline)
        print(f"\npython -c pass: {base * 1000:.0f} ms (median of {repeat})")
        print(f"{'command':<22}{'ms':>8}{'x pass':>9}  heavy imports")
        for name, args in commands.items():
            seconds = statistics.median(times[name])
            heavy = sorted(imported_by(args.split(), env, folder) & set(HEAVY_FOR_COMMANDS))
            if heavy:
                heavy_found.append(f"{name}: {', '.join(heavy)}")
            flag = "" if seconds <= 1.0 else "  (> 1 s)"
            print(
                f"{name:<22}{seconds * 1000:>8.0f}{seconds / base:>9.1f}  "
                f"{', '.join(heavy) or 'none'}{flag}"
            )
    return heavy_found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only-commands", action="store_true", help="skip the import timing")
    args = parser.parse_args()
    heavy: set[str] = set()
    if not args.only_commands:
        tunesdk_times: list[float] = []
        pydantic_times: list[float] = []
        for _ in range(args.repeat):  # interleaved, so background load hits both alike
            seconds, found = time_import("tunesdk")
            tunesdk_times.append(seconds)
            heavy.update(found)
            pydantic_times.append(time_import("pydantic")[0])
        tunesdk_s = statistics.median(tunesdk_times)
        pydantic_s = statistics.median(pydantic_times)
        print(f"import tunesdk:  {tunesdk_s * 1000:.1f} ms (median of {args.repeat})")
        print(f"import pydantic: {pydantic_s * 1000:.1f} ms (median of {args.repeat})")
        print(f"ratio tunesdk/pydantic: {tunesdk_s / pydantic_s:.2f}")
        print(f"heavy modules imported: {', '.join(sorted(heavy)) or 'none'}")
    heavy_commands = commands_report(args.repeat)
    if heavy_commands:
        print("commands importing heavy modules: " + "; ".join(heavy_commands))
    return 1 if heavy or heavy_commands else 0


if __name__ == "__main__":
    sys.exit(main())
