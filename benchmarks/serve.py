"""How ``tunesdk serve`` performs next to the Python API, in one process, over one store.

Every figure is a ratio to the same operation through the Python API in the same run, so the
numbers compare across machines:

- **create → first event**: ``POST /tunesdk/v1/runs`` then the first event off the SSE stream,
  against ``job.submit("simulated")`` then the first event of ``run.events()``;
- **events/s through SSE**: a finished run's whole log (``--events`` events) off
  ``/tunesdk/v1/runs/{id}/events/stream``, against ``Run.attach(id).events(follow=False)``;
- **listing with ``--runs`` runs in the store** (all owned by the benchmark's key): p50/p99 of
  ``GET /v1/fine_tuning/jobs`` and ``GET /tunesdk/v1/runs`` (newest 20; also filtered by status),
  against ``RunStore().query(limit=20)`` (what ``tunesdk runs`` does).

The server is the real app under uvicorn in a thread of this process (lifespan on: the supervisor
follows runs), reached over HTTP on 127.0.0.1 with httpx. Runs for listing are copies of one real
run folder with their own ids, times, statuses and backends (as benchmarks/run_store.py makes
them), claimed for the key in one transaction. Usage::

    python benchmarks/serve.py [--runs 10000] [--events 20000] [--requests 200] [--home DIR]

Exits 1 when a listing's p99 with ``--runs`` runs exceeds ``--budget`` seconds (0.25).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from _store_bench import budget_verdict, copy_runs

KEY = "bench-key-0123456789"


# ---- the server ---------------------------------------------------------------------------------


@contextmanager
def running_server(home: Path) -> Iterator[tuple[str, Any]]:
    """The serve app under uvicorn in a thread; yields (base URL, ServeContext)."""
    import uvicorn

    from tunesdk.serve.app import create_app
    from tunesdk.serve.config import ServeConfig
    from tunesdk.serve.context import ServeContext

    config = ServeConfig(port=0, home=home, api_keys=frozenset({KEY}), default_backend="simulated")
    ctx = ServeContext(config)
    app = create_app(config, context=ctx)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", ctx
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def first_stream_event(client: httpx.Client, run_id: str) -> dict[str, Any]:
    with client.stream("GET", f"/tunesdk/v1/runs/{run_id}/events/stream") as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                return dict(json.loads(line[6:]))
    raise RuntimeError("the stream ended without an event")


def stream_all(client: httpx.Client, run_id: str) -> int:
    count = 0
    with client.stream("GET", f"/tunesdk/v1/runs/{run_id}/events/stream") as response:
        for line in response.iter_lines():
            if line.startswith("id: "):
                count += 1
    return count


# ---- fabricated runs ----------------------------------------------------------------------------


def small_job() -> dict[str, Any]:
    """The fields of a short simulated job (as a client would send them)."""
    from tunesdk.testing import tiny_chat_data

    return {
        "model": "tiny/model",
        "data": tiny_chat_data(8),
        "max_steps": 3,
        "backend_options": {"simulated": {"step_seconds": 0.01}},
    }


def long_log_run(store: Any, events: int) -> str:
    """A finished run whose log holds ``events`` events (written in one go, state to match)."""
    import tunesdk as ts

    job = ts.Job(model="tiny/model", data=[{"text": "hello"}] * 4)
    record = store.create(job, job.plan("simulated"), "simulated")
    start = datetime.now(UTC)
    lines = []
    for seq in range(1, events):
        event = ts.Progress(
            run_id=record.run_id,
            seq=seq,
            time=start + timedelta(milliseconds=seq),
            step=seq,
            total_steps=events - 1,
            train_loss=2.0 / seq,
            learning_rate=2e-4,
        )
        lines.append(event.to_json())
    done = ts.Completed(
        run_id=record.run_id,
        seq=events,
        model=ts.LocalModel(path="/tmp/model", base_model="tiny/model"),
    )
    lines.append(done.to_json())
    text = "\n".join(lines) + "\n"
    record.events_path.write_text(text)
    state = json.loads((record.dir / "state.json").read_text())
    state.update(status="completed", last_seq=events, events_size=len(text.encode()))
    (record.dir / "state.json").write_text(json.dumps(state))
    store.index.record(record.dir)
    return str(record.run_id)


def grow(store: Any, ctx: Any, owner: str, count: int) -> None:
    """Copies of one finished run until the store holds ``count`` runs, all owned by ``owner``."""
    import tunesdk as ts

    job = ts.Job(model="tiny/model", data=[{"text": "hello"}] * 4)
    template = store.create(job, job.plan("simulated"), "simulated")
    template.emit(ts.Progress(step=1, total_steps=1, train_loss=1.0))
    template.emit(ts.Completed(model=ts.LocalModel(path="/tmp/m", base_model="tiny/model")))
    start = datetime(2025, 1, 1, tzinfo=UTC)
    copies = copy_runs(store, template.dir, range(count - 1), start, live=False)
    claims = [("run", run_id, owner, when.timestamp()) for run_id, when in copies]
    claims.append(("run", template.run_id, owner, time.time()))
    # one transaction for 10,000 claims (Ownership.claim commits each one)
    with sqlite3.connect(ctx.ownership.path) as db:
        db.executemany("INSERT OR REPLACE INTO owned VALUES (?, ?, ?, ?)", claims)
    store.query(limit=1)  # build the index once, as the first `tunesdk runs` would


# ---- timing -------------------------------------------------------------------------------------


def samples(action: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return times


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def row(name: str, served: float, python: float, unit: str = "ms") -> None:
    scale = 1e3 if unit == "ms" else 1.0
    print(f"{name:<46}{served * scale:>12.2f}{python * scale:>12.2f}{served / python:>9.1f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--creates", type=int, default=5)
    parser.add_argument("--budget", type=float, default=0.25, help="seconds, a listing's p99")
    parser.add_argument("--home", type=Path, default=None, help="store to build (default: a temp)")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="tunesdk-serve-bench-"))
    os.environ["TUNESDK_HOME"] = str(home)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TUNESDK_POLL_INTERVAL", "0.05")
    import tunesdk as ts
    from tunesdk.serve.auth import owner_id
    from tunesdk.store import RunStore

    store = RunStore(home)
    over = []
    headers = {"Authorization": f"Bearer {KEY}"}
    with (
        running_server(home) as (url, ctx),
        httpx.Client(base_url=url, headers=headers, timeout=120) as client,
    ):
        print(f"{'operation':<46}{'serve':>12}{'python':>12}{'ratio':>10}")

        # create -> first event
        body = {"job": small_job()}

        def served_first() -> None:
            run_id = client.post("/tunesdk/v1/runs", json=body).json()["id"]
            first_stream_event(client, run_id)

        def python_first() -> None:
            run = ts.Job(**small_job()).submit("simulated")
            next(iter(run.events()))

        served_s = statistics.median(samples(served_first, args.creates))
        python_s = statistics.median(samples(python_first, args.creates))
        row("create -> first event (median, ms)", served_s, python_s)

        # events/s through SSE
        run_id = long_log_run(store, args.events)
        ctx.ownership.claim("run", run_id, owner_id(KEY), time.time())
        count = 0

        def served_stream() -> None:
            nonlocal count
            count = stream_all(client, run_id)

        def python_stream() -> None:
            list(ts.Run.attach(run_id).events(follow=False))

        served_s = statistics.median(samples(served_stream, 3))
        python_s = statistics.median(samples(python_stream, 3))
        assert count == args.events, count
        print(
            f"{'events/s (' + str(args.events) + ' events)':<46}{args.events / served_s:>12.0f}"
            f"{args.events / python_s:>12.0f}{python_s / served_s:>9.2f}x"
        )

        # listing with many runs
        began = time.perf_counter()
        grow(store, ctx, owner_id(KEY), args.runs)
        print(f"(made {args.runs} runs in {time.perf_counter() - began:.1f} s)")
        baseline = samples(lambda: RunStore(home).query(limit=20), args.requests)
        base50, base99 = percentile(baseline, 0.5), percentile(baseline, 0.99)
        checks: list[tuple[str, str, dict[str, Any]]] = [
            ("GET /v1/fine_tuning/jobs", "/v1/fine_tuning/jobs", {}),
            ("GET /tunesdk/v1/runs", "/tunesdk/v1/runs", {}),
            ("GET /tunesdk/v1/runs?status=failed", "/tunesdk/v1/runs", {"status": "failed"}),
        ]
        for name, path, params in checks:
            answer = client.get(path, params=params)
            assert answer.status_code == 200 and len(answer.json()["data"]) == 20, answer.text
            times = samples(lambda p=path, q=params: client.get(p, params=q), args.requests)  # type: ignore[misc]
            p50, p99 = percentile(times, 0.5), percentile(times, 0.99)
            row(f"{name} p50 ({args.runs} runs, ms)", p50, base50)
            row(f"{name} p99 ({args.runs} runs, ms)", p99, base99)
            if p99 > args.budget:
                over.append(f"{name}: p99 {p99:.3f} s")
    if args.home is None:
        shutil.rmtree(home, ignore_errors=True)
    passed = f"every listing of {args.runs} runs answers within {args.budget} s at p99"
    return budget_verdict(over, args.budget, passed)


if __name__ == "__main__":
    sys.exit(main())
