"""What the Ray launcher costs next to the local launcher, on a Ray cluster on this machine.

Three figures, each a ratio against the local launcher (a child process) measured in the same
process, so they compare across machines:

- **submit → first event**: from ``job.submit()`` until the worker's first event (its
  ``running`` status) is in the local run — Ray's job scheduling, working_dir upload and the
  relay, against spawning a child;
- **cancel → Cancelled**: from ``run.cancel()`` at the first Progress until the Cancelled event
  is in the local run — ``stop_job`` and the relay, against a signal;
- **per-event overhead of log streaming**: appending N events relayed from a job's log (the
  launcher's poll: parse the tagged lines, stamp, dedup) against appending the same N events
  straight into the run (what a local worker does) and against appending them with a source id
  each (the store's exactly-once check, which relayed events pay for), in µs per event; plus the
  whole-run wall time of an N-step run through each launcher.

Jobs use the ``simulated`` backend (no torch import), so what is measured is the launcher, not
training. Usage::

    python benchmarks/launchers.py [--address http://127.0.0.1:8265] [--events 2000] [--repeat 3]

Without ``--address`` a head node is started on 127.0.0.1 (as tests/launchers does) and stopped
by its own process ids at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def cluster(address: str | None) -> Iterator[str]:
    if address:
        yield address
        return
    sys.path.insert(0, str(ROOT / "tests" / "launchers"))
    import conftest  # the tests' cluster: 127.0.0.1 only, stopped by pid

    started = conftest.ray_cluster.__wrapped__()
    yield next(started).address
    for _ in started:
        pass


def job(launcher: str, address: str, steps: int, seconds: float) -> Any:
    import tunesdk as ts
    from tunesdk.testing import tiny_chat_data

    return ts.Job(
        model="tiny/model",
        data=tiny_chat_data(4),
        max_steps=steps,
        resources={"launcher": launcher},
        launcher_options={"ray": {"address": address}} if launcher == "ray" else {},
        backend_options={"simulated": {"step_seconds": seconds}},
    )


def first_event(launcher: str, address: str) -> float:
    from tunesdk.events import StatusChanged

    start = time.perf_counter()
    run = job(launcher, address, 3, 0.0).submit("simulated")
    for event in run.events():
        if isinstance(event, StatusChanged) and event.status == "running":
            took = time.perf_counter() - start
            run.wait()
            return took
    raise RuntimeError("the run never reported running")


def cancel_latency(launcher: str, address: str) -> float:
    from tunesdk.events import Cancelled, Progress

    run = job(launcher, address, 10_000, 0.05).submit("simulated")
    start = 0.0
    for event in run.events():
        if isinstance(event, Progress) and not start:
            start = time.perf_counter()
            run.cancel(wait=False)
        if isinstance(event, Cancelled):
            return time.perf_counter() - start
    raise RuntimeError(f"the run ended {run.status}, not cancelled")


def whole_run(launcher: str, address: str, steps: int) -> float:
    start = time.perf_counter()
    job(launcher, address, steps, 0.0).run("simulated", progress=False)
    return time.perf_counter() - start


def per_event(events: int) -> tuple[float, float, float, float]:
    """µs per event: appended straight into a run, the same with a source id each (the store's
    exactly-once check, which relayed events use), relayed from a job log, and of that only
    reading the log (parse the tagged lines, stamp the source ids: the relay's own CPU cost)."""
    import tunesdk as ts
    from tunesdk.events import Progress
    from tunesdk.launchers.ray import RayLauncher
    from tunesdk.launchers.ray_entry import TAG
    from tunesdk.registry import get_backend
    from tunesdk.store import RunStore

    spec = job("ray", "http://127.0.0.1:1", events, 0.0)
    plan = spec.plan("simulated")
    stream = [
        Progress(step=i, total_steps=events, train_loss=1.0 / i) for i in range(1, events + 1)
    ]

    def append(events_in: list[Any]) -> float:
        record = RunStore().create(spec, plan, "simulated")
        start = time.perf_counter()
        for event in events_in:
            record.emit(event)
        return (time.perf_counter() - start) / len(events_in) * 1e6

    append(stream[:20])  # warm up: the first emit imports the overfitting monitor
    direct_us = min(append(stream) for _ in range(2))  # the better of two: disk noise
    with_ids = [e.model_copy(update={"source_id": f"x:{e.step}"}) for e in stream]
    with_ids_us = min(append(with_ids) for _ in range(2))

    log = "".join(
        TAG + e.model_copy(update={"seq": i}).to_json() + "\n" for i, e in enumerate(stream, 1)
    )

    class Fake:
        def get_job_status(self, _: str) -> str:
            return "RUNNING"

        def get_job_logs(self, _: str) -> str:
            return log

    backend = get_backend("simulated")

    def relay() -> tuple[float, float]:
        """(µs per event to read them from the log, µs per event read and appended)."""
        launcher = RayLauncher()
        launcher._clients["fake"] = Fake()
        record = RunStore().create(spec, plan, "simulated")
        record.update_state(launcher="ray", ray_address="fake", ray_submission_id="bench")
        start = time.perf_counter()
        found = launcher.poll(backend, record)  # type: ignore[arg-type]
        read = time.perf_counter() - start
        for event in found:
            record.emit(event)
        assert len(ts.Run.attach(record.run_id).record.events()) == events
        return read / events * 1e6, (time.perf_counter() - start) / events * 1e6

    runs = [relay() for _ in range(2)]
    return direct_us, with_ids_us, min(r[1] for r in runs), min(r[0] for r in runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default=None, help="a running cluster's dashboard")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="tunesdk-launchers-bench-"))
    os.environ["TUNESDK_HOME"] = str(home)
    os.environ.pop("RAY_ADDRESS", None)
    try:
        direct_us, with_ids_us, relayed_us, read_us = per_event(args.events)
        print(
            f"per event ({args.events}): direct append {direct_us:.0f} µs, with source ids "
            f"{with_ids_us:.0f} µs, relayed {relayed_us:.0f} µs of which reading the log "
            f"{read_us:.0f} µs — relayed/direct {relayed_us / direct_us:.2f}x, reading/direct "
            f"{read_us / direct_us:.3f}x"
        )
        with cluster(args.address) as address:
            rows = []
            for name, measure in (
                ("submit → first event", first_event),
                ("cancel → Cancelled", cancel_latency),
            ):
                local = statistics.median(measure("local", address) for _ in range(args.repeat))
                ray = statistics.median(measure("ray", address) for _ in range(args.repeat))
                rows.append((name, local, ray))
            steps = args.events
            rows.append(
                (
                    f"{steps}-step run, wall",
                    whole_run("local", address, steps),
                    whole_run("ray", address, steps),
                )
            )
            print(f"{'':28} {'local':>9} {'ray':>9} {'ray/local':>10}")
            for name, local, ray in rows:
                print(f"{name:28} {local:8.2f}s {ray:8.2f}s {ray / local:9.1f}x")
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
