"""How long ``import tunesdk`` takes, relative to ``import pydantic``, and what heavy modules it pulls.

Each import is timed in a fresh interpreter (so nothing is cached in ``sys.modules``); the median of
``--repeat`` runs is reported. Usage: ``python benchmarks/import_time.py [--repeat 5]``. Exits 1 when
``import tunesdk`` imports any heavy module.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

HEAVY = ("torch", "transformers", "openai", "together", "fireworks", "datasets", "trl", "peft")

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    tunesdk_times: list[float] = []
    pydantic_times: list[float] = []
    heavy: set[str] = set()
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
    return 1 if heavy else 0


if __name__ == "__main__":
    sys.exit(main())
