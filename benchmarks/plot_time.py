"""How long ``tunesdk plot RUN`` takes next to the least any matplotlib plot costs.

1. Whole processes, interleaved, median of ``--repeat``: ``python -c pass``; the matplotlib floor
   (``import matplotlib.figure`` and the Agg canvas, which any PNG plot needs); ``tunesdk plot``
   of a finished simulated run. Printed as ratios to ``python -c pass`` and to the floor: what
   tunesdk adds over importing matplotlib is the ratio to watch (target: plot / floor below 2).
2. In one process, the drawing alone: `plot_loss` as it is (fixed margins, one draw) against
   the same `plot_loss` on a figure under matplotlib's constrained layout, as it was before
   (which draws the figure twice to measure its texts).

Usage: ``python benchmarks/plot_time.py [--repeat 5]``. Needs matplotlib (``tunesdk[eval]``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import median_seconds, run_store_with_one_run

FLOOR = "import matplotlib.figure, matplotlib.backends.backend_agg"


def process_times(repeat: int, folder: Path, env: dict[str, str], run_id: str) -> None:
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "matplotlib floor": [sys.executable, "-c", FLOOR],
        "tunesdk plot": [
            *(sys.executable, "-m", "tunesdk", "plot", run_id),
            *("-o", str(folder / "loss.png")),
        ],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeat):  # interleaved, so background load hits all alike
        for name, command in commands.items():
            start = time.perf_counter()
            subprocess.run(command, env=env, cwd=folder, capture_output=True, check=True)
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(values) for name, values in times.items()}
    base, floor = medians["python -c pass"], medians["matplotlib floor"]
    print(f"{'process':<18}{'ms':>8}{'x pass':>9}{'x floor':>9}  (median of {repeat})")
    for name, seconds in medians.items():
        print(f"{name:<18}{seconds * 1000:>8.0f}{seconds / base:>9.1f}{seconds / floor:>9.2f}")


def drawing_times(repeat: int, folder: Path, run_id: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    import tunesdk.evaluation.plot as plot
    from tunesdk.store import RunStore

    events = RunStore().get(run_id).events()
    fixed = plot._figure

    def constrained() -> tuple[Figure, Any]:  # how plot_loss laid its figure out before
        figure = Figure(figsize=(9, 5), dpi=110, layout="constrained")
        FigureCanvasAgg(figure)
        return figure, figure.add_subplot()

    def draw(make: Any) -> None:
        plot._figure = make
        try:
            plot.plot_loss(events, folder / "loss.png")
        finally:
            plot._figure = fixed

    times: dict[str, list[float]] = {"fixed": [], "constrained": []}
    for _ in range(repeat):  # interleaved; the fastest of each counts (load only adds time)
        times["fixed"].append(median_seconds(lambda: draw(fixed), 1, warmup=1))
        times["constrained"].append(median_seconds(lambda: draw(constrained), 1, warmup=1))
    ours, before = min(times["fixed"]), min(times["constrained"])
    print(
        f"\nplot_loss drawing only: {ours * 1000:.0f} ms with fixed margins, {before * 1000:.0f} ms "
        f"under constrained layout; ratio fixed/constrained {ours / before:.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env, run_id = run_store_with_one_run(folder)
        process_times(args.repeat, folder, env, run_id)
        os.environ["TUNESDK_HOME"] = env["TUNESDK_HOME"]
        drawing_times(args.repeat, folder, run_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
