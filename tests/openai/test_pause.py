"""Pausing an OpenAI run and going on with it: ``Run.pause`` / ``Run.unpause`` through the official
SDK (``POST /fine_tuning/jobs/{id}/pause`` and ``/resume``), `tunesdk pause`, the follow loop
while paused, and the refusal of backends that cannot pause."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import tunesdk as ts
from tunesdk.backend import Capabilities
from tunesdk.errors import ProviderError, TuneError
from tunesdk.events import Completed, Log, Progress, StatusChanged
from tunesdk.follow import Follower
from tunesdk.registry import get_backend

pytestmark = pytest.mark.usefixtures("openai_env")

MODEL = "gpt-4o-mini-2024-07-18"


def _running_run(emulator: Any, sdk: Any, samples: Any, wait_until: Any) -> tuple[ts.Run, str]:
    emulator.settings.seconds_per_step = 0.1
    run = ts.Job(model=MODEL, data=samples.chat(48), epochs=1, batch_size=4).submit("openai")
    job_id = wait_until(lambda: run.record.state.get("remote_job_id"))
    wait_until(lambda: sdk.fine_tuning.jobs.retrieve(job_id).status == "running")
    run.refresh()  # the run has seen it running (a follower's poll)
    assert _changes(run)[-1] == "running"
    return run, job_id


def _changes(run: ts.Run) -> list[str | None]:
    return [e.provider_status for e in run.record.events() if isinstance(e, StatusChanged)]


def test_pause_stops_the_job_in_place_and_unpause_goes_on_to_the_end(
    emulator, sdk, samples, wait_until
) -> None:
    run, job_id = _running_run(emulator, sdk, samples, wait_until)

    run.pause()

    assert sdk.fine_tuning.jobs.retrieve(job_id).status == "paused"
    assert _changes(run)[-1] == "paused"  # recorded at once (pause polls once)
    assert not run.record.terminal and run.status == "queued"  # live, waiting for unpause
    steps = [e.step for e in run.record.events() if isinstance(e, Progress)]
    run.refresh()
    assert [e.step for e in run.record.events() if isinstance(e, Progress)] == steps

    run.unpause()
    result = run.wait(timeout=30)

    assert result.status == "completed"
    assert len(emulator.world.jobs) == 1  # the same job went on
    changes = _changes(run)
    paused_at = changes.index("paused")
    assert changes.count("running") == 2  # running again after resume: an event of its own
    assert "running" in changes[paused_at + 1 :]
    logs = [e.message for e in run.record.events() if isinstance(e, Log)]
    assert "asked openai to pause the job (run.pause())" in logs
    assert "asked openai to go on with the paused job (run.unpause())" in logs
    assert isinstance(run.record.events()[-1], Completed)


def test_the_follow_loop_keeps_following_a_paused_run_at_its_longest_interval(
    emulator, sdk, samples, wait_until
) -> None:
    run, _ = _running_run(emulator, sdk, samples, wait_until)
    run.pause()
    follower = Follower(run.record, run.backend, after=run.record.events()[-1].seq)
    batches = [follower.step() for _ in range(12)]
    assert not any(b.done for b in batches)
    assert follower.delay == follower.longest and batches[-1].pause == pytest.approx(
        follower.longest, abs=0.01
    )
    run.pause()  # paused already (a retried call, the dashboard): no error
    asyncio.run(run.aunpause())
    asyncio.run(run.aunpause())  # going on already: no error either
    assert run.wait(timeout=30).status == "completed"
    with pytest.raises(TuneError, match="already ended"):
        asyncio.run(run.apause())


def test_openai_refusal_of_a_job_it_cannot_pause_is_raised_as_it_is(
    emulator, sdk, samples, wait_until
) -> None:
    run, job_id = _running_run(emulator, sdk, samples, wait_until)
    sdk.fine_tuning.jobs.cancel(job_id)  # cancelled on OpenAI; the run has not seen it yet
    with pytest.raises(ProviderError, match="Only running jobs can be paused"):
        run.pause()


def test_tunesdk_pause_and_resume_on_the_command_line(
    emulator, sdk, samples, wait_until, invoke
) -> None:
    run, job_id = _running_run(emulator, sdk, samples, wait_until)

    code, out, err = invoke(["pause", run.run_id])

    assert code == 0, err
    assert f"run {run.run_id}: asked openai to pause its job" in out
    assert sdk.fine_tuning.jobs.retrieve(job_id).status == "paused"
    code, _, err = invoke(["resume", run.run_id])
    assert code == 0, err
    assert f"run {run.run_id}: asked openai to go on with its paused job" in err
    assert run.wait(timeout=30).status == "completed"


def test_pause_of_an_ended_run_says_so(emulator, samples) -> None:
    run = ts.Job(model=MODEL, data=samples.chat(12), epochs=1, batch_size=4).submit("openai")
    run.wait(timeout=30)
    with pytest.raises(TuneError, match="already ended") as ended:
        run.pause()
    assert "tunesdk resume" in str(ended.value.fix)
    assert emulator.world.jobs and all(
        j.status == "succeeded" for j in emulator.world.jobs.values()
    )


def test_only_openai_says_it_pauses_and_the_others_refuse_naming_themselves(tmp_path) -> None:
    assert get_backend("openai").capabilities.pause is True
    assert Capabilities().pause is False
    for name in ("together", "fireworks", "simulated"):
        assert get_backend(name).capabilities.pause is False, name
    run = ts.Job(model="tiny", data=[{"text": "hello there"}] * 4, max_steps=2).submit("simulated")
    run.wait(timeout=60)
    for action in (run.pause, run.unpause):
        with pytest.raises(TuneError, match="backend 'simulated' cannot") as refused:
            action()
        assert "tunesdk cancel" in str(refused.value.fix)
