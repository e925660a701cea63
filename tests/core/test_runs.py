"""Whole runs on the simulated backend: sync, async, submit + events, cancel, resume, attach."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk.events import Event, parse_event


def assert_well_formed(events: list[Event]) -> None:
    """Seqs 1..N without gaps or repeats, exactly one terminal event, and it comes last."""
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.terminal for e in events].count(True) == 1
    assert events[-1].terminal


def test_sync_run_with_callback(make_job: Callable[..., ts.Job]) -> None:
    seen: list[Event] = []
    result = make_job().run("simulated", on_event=seen.append, progress=False)
    assert result.status == "completed"
    assert_well_formed(seen)
    assert [e.seq for e in seen] == [e.seq for e in result.events()]
    steps = [e.step for e in seen if isinstance(e, ts.Progress)]
    assert steps == [1, 2, 3, 4, 5, 6]
    assert isinstance(seen[-1], ts.Completed)
    assert result.metrics["steps"] == 6
    assert result.run_dir.is_dir() and result.events_path.exists()


def test_events_round_trip_through_json(make_job: Callable[..., ts.Job]) -> None:
    result = make_job(eval_split=0.25).run("simulated", progress=False)
    events = result.events()
    assert {type(e) for e in events} >= {ts.StatusChanged, ts.Progress, ts.Evaluation}
    for event in events:
        assert parse_event(event.to_json()) == event
        assert event.run_id == result.run_id


def test_result_model_is_a_local_model_that_reloads_and_chats(
    make_job: Callable[..., ts.Job],
) -> None:
    model = make_job().run("simulated", progress=False).model
    assert isinstance(model, ts.LocalModel)
    assert model.engine == "simulated" and model.base_model == "tiny/model"
    assert Path(model.path).is_dir()
    restored = ts.load_model(model.to_uri())
    assert restored == model
    reply = restored.chat([{"role": "user", "content": "hello there"}])
    assert "hello there" in reply and "simulated" in reply


async def test_async_run(make_job: Callable[..., ts.Job]) -> None:
    seen: list[Event] = []
    result = await make_job().arun("simulated", on_event=seen.append)
    assert result.status == "completed"
    assert_well_formed(seen)
    assert isinstance(result.model, ts.LocalModel)


def test_submit_then_events(make_job: Callable[..., ts.Job]) -> None:
    run = make_job().submit("simulated")
    events = list(run.events())
    assert_well_formed(events)
    assert run.done and run.status == "completed"
    assert list(run.events(after=3, follow=False)) == events[3:]
    assert run.result().model == events[-1].model  # type: ignore[union-attr]


def test_cancel_mid_run_keeps_a_checkpoint_and_resume_continues(
    make_job: Callable[..., ts.Job],
) -> None:
    job = make_job(max_steps=40, backend_options={"simulated": {"step_seconds": 0.05}})
    run = job.submit("simulated")
    for event in run.events():
        if isinstance(event, ts.Progress) and event.step >= 3:
            break
    run.cancel(timeout=10)
    assert run.status == "cancelled"
    final = run.record.events()[-1]
    assert isinstance(final, ts.Cancelled)
    assert final.checkpoint and Path(final.checkpoint).is_dir()
    stopped_at = int(final.checkpoint.rsplit("-", 1)[-1])
    assert 3 <= stopped_at < 40
    with pytest.raises(ts.RunCancelled):
        run.result()

    fast = job.model_copy(update={"backend_options": {"simulated": {"step_seconds": 0.001}}})
    resumed = fast.run("simulated", resume=run.run_id, progress=False)
    steps = [e.step for e in resumed.events() if isinstance(e, ts.Progress)]
    assert steps[0] == stopped_at + 1 > 1
    assert steps[-1] == 40


def test_resume_without_checkpoint_is_a_clear_error(make_job: Callable[..., ts.Job]) -> None:
    with pytest.raises(ts.TuneError, match="no checkpoint to resume from"):
        make_job().submit("simulated", resume=True)


ATTACH_SCRIPT = """
import json, sys
import tunesdk as ts
run = ts.Run.attach(sys.argv[1])
print(json.dumps([e.seq for e in run.events()]))
"""


@pytest.mark.slow
def test_attach_from_a_second_process_sees_the_same_events(
    make_job: Callable[..., ts.Job],
) -> None:
    job = make_job(max_steps=20, backend_options={"simulated": {"step_seconds": 0.05}})
    run = job.submit("simulated")
    other = subprocess.Popen(
        [sys.executable, "-c", ATTACH_SCRIPT, run.run_id],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    mine = [e.seq for e in run.events()]
    out, err = other.communicate(timeout=60)
    assert other.returncode == 0, err
    assert json.loads(out) == mine
    assert mine == list(range(1, len(mine) + 1))
    assert run.status == "completed"


def test_resume_true_finds_the_same_job_even_with_a_secret_option(
    make_job: Callable[..., ts.Job],
) -> None:
    options = {"simulated": {"step_seconds": 0.05, "api_key": "sk-secret"}}
    job = make_job(max_steps=40, backend_options=options)
    run = job.submit("simulated")
    for event in run.events():
        if isinstance(event, ts.Progress) and event.step >= 3:
            break
    run.cancel(timeout=10)
    final = run.record.events()[-1]
    assert isinstance(final, ts.Cancelled) and final.checkpoint
    stopped_at = int(final.checkpoint.rsplit("-", 1)[-1])
    resumed = job.run("simulated", resume=True, progress=False)
    steps = [e.step for e in resumed.events() if isinstance(e, ts.Progress)]
    assert steps[0] == stopped_at + 1


def test_wait_timeout_fires_while_the_run_is_silent(make_job: Callable[..., ts.Job]) -> None:
    import time

    job = make_job(backend_options={"simulated": {"step_seconds": 30}})
    run = job.submit("simulated")
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"after 0\.5 s"):
        run.wait(timeout=0.5)
    assert time.monotonic() - started < 5  # not held until the next (30 s away) event
    run.cancel(timeout=10)
    assert run.status == "cancelled"
