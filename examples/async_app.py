"""tunesdk inside an asyncio application: submit, stream events, cancel, and re-attach.

The pattern a web service or a worker queue uses: submit returns at once with a run id (store it),
events stream without blocking the event loop, any process can attach to a run by its id — after
a restart, a crash, or from a dashboard — and continue where it left off without missing or
repeating an event. The Together AI emulator stands in for the provider, so this runs offline.

    python examples/async_app.py [WORK_DIR]

Needs: pip install tunesdk tunesdk-together
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

import tunesdk as ts
from tunesdk_together.emulator import TogetherEmulator


async def heartbeat(ticks: list[int]) -> None:
    """Stands for the rest of the application: it keeps running while runs are followed."""
    while True:
        await asyncio.sleep(0.01)
        ticks.append(1)


def describe(event: ts.Event) -> str:
    if isinstance(event, ts.Progress):
        return f"step {event.step}/{event.total_steps} loss {event.train_loss}"
    if isinstance(event, ts.StatusChanged):
        return f"status {event.status}"
    if isinstance(event, ts.Log):
        return f"log: {event.message}"
    return event.type


async def follow_then_lose_track(job: ts.Job) -> tuple[str, int]:
    """Submit, read events until the first progress step, then 'crash' (forget the Run)."""
    run = await job.asubmit("together")
    print(f"submitted {run.run_id}")
    async for event in run.aevents():
        print(f"  [{event.seq}] {describe(event)}")
        if isinstance(event, ts.Progress):
            return run.run_id, event.seq  # a real app stores these two values
    raise RuntimeError("the run ended before its first progress event")


async def resume_following(run_id: str, last_seen: int) -> ts.Result:
    """Attach by id (any process can) and continue after the last event already handled."""
    run = ts.Run.attach(run_id)
    print(f"attached to {run.run_id} ({run.status}), continuing after event {last_seen}")
    async for event in run.aevents(after=last_seen):
        print(f"  [{event.seq}] {describe(event)}")
    return await run.await_result()


async def submit_and_cancel(job: ts.Job) -> str:
    run = await job.asubmit("together")
    async for event in run.aevents():
        if isinstance(event, ts.Progress):
            break
    await run.acancel()  # asks the provider to cancel and waits for the Cancelled event
    return run.status


async def main(work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    data = work / "train.jsonl"
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Translate 'item {i}' to French."},
                {"role": "assistant", "content": f"article {i}"},
            ]
        }
        for i in range(32)
    ]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    job = ts.Job(model="meta-llama/Llama-3.1-8B-Instruct", data=data, epochs=2, batch_size=8)

    ticks: list[int] = []
    beat = asyncio.create_task(heartbeat(ticks))
    with TogetherEmulator(seconds_per_step=0.05, pending_s=0.05, queued_s=0.05) as emulator:
        os.environ.update(emulator.env("emulated-key"))  # TOGETHER_BASE_URL, TOGETHER_API_KEY
        os.environ.setdefault("TUNESDK_POLL_INTERVAL", "0.05")

        run_id, last_seen = await follow_then_lose_track(job)
        result = await resume_following(run_id, last_seen)
        print(f"completed: {result.model.to_uri() if result.model else None}")
        seqs = [event.seq for event in result.events()]
        assert seqs == list(range(1, len(seqs) + 1))  # no event lost or repeated across attach
        print(f"events 1..{len(seqs)}, none lost or repeated")

        status = await submit_and_cancel(job)
        print(f"second run: {status}")
    beat.cancel()
    print(f"the event loop stayed free: {len(ticks)} heartbeats while runs were followed")


if __name__ == "__main__":
    work = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="tunesdk-"))
    asyncio.run(main(work))
