"""A follow loop through a provider outage: CPU, polls and log growth while the API is unreachable.

A real run is submitted to the OpenAI emulator; then the emulator goes away (connections refused)
and ``Run.events(timeout=SECONDS)`` follows the run until its deadline. Reported: the follower's CPU
time as a fraction of the wall time, the polls it made, and the lines the event log grew by.
Usage::

    python benchmarks/follow_outage.py [--seconds 60] [--poll 0.05]

``--poll`` is the first poll interval (``TUNESDK_POLL_INTERVAL``; the longest is 4x it); retries
inside one poll use a short policy, so the loop itself is what is measured. Exits 1 when the CPU
fraction exceeds ``--budget`` (0.05), the log grew by more than one line, or the deadline was
missed by more than a second. The loop before tunesdk 0.2 spun at 100% CPU and logged ~170 lines
a second here.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time

import tunesdk as ts
from tunesdk.managed import RetryPolicy


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--poll", type=float, default=0.05)
    parser.add_argument("--budget", type=float, default=0.05)
    args = parser.parse_args()

    from tunesdk_openai.backend import OpenAIBackend
    from tunesdk_openai.emulator import OpenAIEmulator

    os.environ["TUNESDK_HOME"] = tempfile.mkdtemp(prefix="tunesdk-outage-")
    os.environ["TUNESDK_POLL_INTERVAL"] = str(args.poll)
    os.environ["OPENAI_API_KEY"] = "sk-benchmark-0123456789abcdefghij"
    OpenAIBackend.retry_policy = RetryPolicy(2, 0.01, 0.02)
    rows = [
        {"messages": [{"role": "user", "content": f"{i}?"}, {"role": "assistant", "content": "!"}]}
        for i in range(12)
    ]
    job = ts.Job(model="gpt-4o-mini-2024-07-18", data=rows, epochs=1, batch_size=4)
    with OpenAIEmulator(seconds_per_step=3600.0, validate_s=0.01, queue_s=0.01) as emulator:
        os.environ["OPENAI_BASE_URL"] = emulator.base_url
        run = job.submit("openai")
        run.refresh()
    os.environ["OPENAI_BASE_URL"] = f"http://127.0.0.1:{_closed_port()}/v1"

    attached = ts.Run.attach(run.run_id)
    calls = 0
    original = OpenAIBackend.poll

    def counted(self: OpenAIBackend, record: ts.store.RunRecord) -> list[ts.Event]:
        nonlocal calls
        calls += 1
        return original(self, record)

    OpenAIBackend.poll = counted  # type: ignore[method-assign]
    lines_before = len(run.record.events_path.read_text().splitlines())
    seen = run.record.events()[-1].seq
    cpu, wall = time.process_time(), time.monotonic()
    try:
        for _ in attached.events(after=seen, timeout=args.seconds):
            pass
    except TimeoutError:
        pass
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    grew = len(run.record.events_path.read_text().splitlines()) - lines_before

    fraction = cpu / wall
    print(f"outage of {wall:.1f} s (deadline {args.seconds:.0f} s, first poll {args.poll} s)")
    print(f"  follower CPU      {cpu:.2f} s = {fraction:.1%} of wall time")
    print(f"  polls             {calls} ({calls / wall * 60:.0f} a minute)")
    print(f"  event log growth  {grew} line(s)")
    ok = fraction <= args.budget and grew <= 1 and wall <= args.seconds + 1.0
    print("OK" if ok else "OVER BUDGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
