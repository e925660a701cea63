"""How the run store scales: listing, filtering and looking up runs among 100, 1,000 and 10,000.

Every figure is a ratio to reading one run (``RunStore().get(id).status``) in the same process, so
the numbers compare across machines. Runs are copies of one real run folder (made through the
public API) with their own ids, times, statuses and backends. Usage::

    python benchmarks/run_store.py [--sizes 100,1000,10000] [--repeat 5] [--home DIR]

Exits 1 when listing or filtering the largest store takes longer than ``--budget`` seconds (0.3).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from _common import median_seconds
from _store_bench import budget_verdict, copy_runs

import tunesdk as ts
from tunesdk.store import RunStore
from tunesdk.store.index import INDEX_NAME
from tunesdk.store.state import summarize_folder


def template_run(store: RunStore) -> Path:
    """One finished run, made as any run is, to copy from."""
    job = ts.Job(model="tiny/model", data=[{"text": "hello"}] * 4)
    record = store.create(job, job.plan("simulated"), "simulated")
    record.emit(ts.StatusChanged(status="running"))
    for step in range(1, 21):
        record.emit(ts.Progress(step=step, total_steps=20, train_loss=2.0 / step))
    record.emit(ts.Completed(model=ts.LocalModel(path="/tmp/model", base_model="tiny/model")))
    return record.dir


def grow(store: RunStore, template: Path, count: int, start: datetime) -> None:
    """Add copies of ``template`` until the store holds ``count`` runs."""
    have = sum(1 for p in store.runs_dir.iterdir() if not p.name.startswith("."))
    copy_runs(store, template, range(have, count), start)


def lookup(home: Path, prefix: str) -> object:
    return RunStore(home).get(prefix)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--budget", type=float, default=0.3, help="seconds, at the largest size")
    parser.add_argument("--home", type=Path, default=None, help="store to build (default: a temp)")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    home = args.home or Path(tempfile.mkdtemp(prefix="tunesdk-bench-"))
    store = RunStore(home)
    template = template_run(store)
    one = template.name
    start = datetime(2025, 1, 1, tzinfo=UTC)

    def read_one() -> object:
        return RunStore(home).get(one).status

    baseline = median_seconds(read_one, max(args.repeat, 50))
    print(f"baseline: reading one run (get + status) {baseline * 1e3:.3f} ms")
    print(f"{'operation':<38}{'runs':>7}{'ms':>10}{'x one run':>11}")
    over_budget = []
    for size in sizes:
        grow(store, template, size, start)
        index = store.home / INDEX_NAME
        for suffix in ("", "-wal", "-shm"):
            Path(f"{index}{suffix}").unlink(missing_ok=True)
        rows: list[tuple[str, Callable[[], object], int]] = [
            ("rebuild the missing index", lambda: RunStore(home).query(limit=20), 1),
            ("list all", lambda: RunStore(home).query(), args.repeat),
            ("list newest 20 (tunesdk runs)", lambda: RunStore(home).query(limit=20), args.repeat),
            (
                "filter --status failed (newest 20)",
                lambda: RunStore(home).query(status="failed", limit=20),
                args.repeat,
            ),
            (
                "filter --backend trl (newest 20)",
                lambda: RunStore(home).query(backend="trl", limit=20),
                args.repeat,
            ),
            ("filter --status failed (all)", lambda: RunStore(home).query(status="failed"), 3),
            ("get by exact id + status", read_one, max(args.repeat, 50)),
            ("get by unique prefix", partial(lookup, home, one[:-1]), args.repeat),
            (
                "scan every folder (no index)",
                lambda: [summarize_folder(p) for p in store.runs_dir.iterdir() if p.is_dir()],
                1,
            ),
        ]
        for name, action, repeat in rows:
            seconds = median_seconds(action, repeat)
            print(f"{name:<38}{size:>7}{seconds * 1e3:>10.2f}{seconds / baseline:>11.1f}")
            budgeted = name.startswith(("list", "filter"))
            if size == max(sizes) and budgeted and seconds > args.budget:
                over_budget.append(f"{name}: {seconds:.3f} s")
    if args.home is None:
        shutil.rmtree(home, ignore_errors=True)
    passed = f"every listing and filter of {max(sizes)} runs is within {args.budget} s"
    return budget_verdict(over_budget, args.budget, passed)


if __name__ == "__main__":
    sys.exit(main())
