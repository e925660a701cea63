"""What the benchmarks of a full run store share (run_store.py, serve.py): the store filled with
copies of one real run folder, each with its own id, times, status and backend (thousands of
runs in seconds, read by the store as any run), and the exit status against a time budget.

Imported as ``from _store_bench import ...`` (a script's own folder is first on ``sys.path``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

#: the backends the copies cycle through (so a --backend filter keeps a quarter)
BACKENDS = ("trl", "together", "openai", "unsloth")
#: every this-many-th copy is a live run (which every listing re-reads from its folder)
LIVE_EVERY = 500


def copy_runs(
    store: Any, template: Path, indices: Iterable[int], start: datetime, *, live: bool = True
) -> list[tuple[str, datetime]]:
    """A copy of the run folder ``template`` in ``store`` per index ``i``: a run of
    ``BACKENDS[i % 4]`` created ``i`` seconds after ``start``, completed, failed or cancelled in
    turn, and every `LIVE_EVERY`-th one running (completed with ``live=False``: a server's
    supervisor would follow a running one). The (run id, creation time) of each copy."""
    from tunesdk.store.ids import new_run_id

    state = json.loads((template / "state.json").read_text())
    files = {name: (template / name).read_bytes() for name in ("job.json", "plan.json")}
    events = (template / "events.jsonl").read_bytes()
    made = []
    for i in indices:
        backend = BACKENDS[i % len(BACKENDS)]
        when = start + timedelta(seconds=i)
        run_id = new_run_id(backend, when)
        folder = store.runs_dir / run_id
        folder.mkdir()
        for name, data in files.items():
            (folder / name).write_bytes(data)
        (folder / "events.jsonl").write_bytes(events)
        if i % LIVE_EVERY == 0:
            status = "running" if live else "completed"
        else:
            status = ("completed", "failed", "cancelled")[i % 3]
        stamp = when.isoformat(timespec="milliseconds")
        state.update(
            run_id=run_id, backend=backend, status=status, created_at=stamp, updated_at=stamp
        )
        (folder / "state.json").write_text(json.dumps(state))
        made.append((run_id, when))
    return made


def budget_verdict(over: list[str], budget: float, passed: str) -> int:
    """Print what went ``over`` the ``budget`` (seconds) and return 1, or print ``passed`` and
    return 0: the benchmark's exit status."""
    if over:
        print(f"over the {budget} s budget: " + "; ".join(over))
        return 1
    print(passed)
    return 0
