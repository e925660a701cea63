"""Resuming a failed OpenAI run: a new job fine-tunes the last checkpoint model
(``ft:...:ckpt-step-N``) for the epochs left."""

from __future__ import annotations

import pytest

import tunesdk as ts
from tunesdk.errors import RunFailed
from tunesdk.events import Checkpoint, Completed, Log, Progress, StatusChanged
from tunesdk.store import RunStore

pytestmark = pytest.mark.usefixtures("openai_env")

MODEL = "gpt-4o-mini-2024-07-18"


def test_resume_fine_tunes_the_last_checkpoint_for_the_epochs_left(emulator, samples) -> None:
    emulator.fail_next_job(at_step=5)  # 12 examples / batch 4 x 2 epochs: checkpoint at step 3
    job = ts.Job(model=MODEL, data=samples.chat(12), epochs=2, batch_size=4)
    with pytest.raises(RunFailed):
        job.run(backend="openai", progress=False)
    [old] = RunStore().list()
    [checkpoint] = [e for e in old.events() if isinstance(e, Checkpoint)]
    assert checkpoint.step == 3 and checkpoint.provider_id.endswith(":ckpt-step-3")

    run = ts.Run.submit(old.job, "openai", resume=old.run_id)
    result = run.wait()

    assert result.status == "completed"
    second = next(j for j in emulator.world.jobs.values() if j.model != MODEL)
    assert second.model == checkpoint.provider_id
    assert second.hyperparameters.n_epochs == 1
    events = run.record.events()
    assert isinstance(events[-1], Completed)
    assert max(e.step for e in events if isinstance(e, Progress)) == 3  # one epoch of 3 steps
    assert any(isinstance(e, Log) and "1 epoch(s) left" in e.message for e in events)
    assert run.record.job.model_for("openai") == checkpoint.provider_id
    assert run.record.job.model_name == MODEL  # the base model is still named


def test_resume_of_a_paused_run_asks_openai_to_go_on_with_the_same_job(
    emulator, sdk, samples, wait_until, invoke
) -> None:
    emulator.settings.seconds_per_step = 0.05
    run = ts.Job(model=MODEL, data=samples.chat(24), epochs=1, batch_size=4).submit("openai")
    job_id = wait_until(lambda: run.record.state.get("remote_job_id"))
    wait_until(lambda: sdk.fine_tuning.jobs.retrieve(job_id).status == "running")
    sdk.fine_tuning.jobs.pause(job_id)  # e.g. from OpenAI's dashboard

    def paused() -> bool:
        run.refresh()  # poll the provider, as a follower would
        changes = [e for e in run.record.events() if isinstance(e, StatusChanged)]
        return changes[-1].provider_status == "paused"

    wait_until(paused)

    code, _, err = invoke(["resume", run.run_id])

    assert code == 0, err
    assert f"run {run.run_id}: asked openai to go on with its paused job" in err
    assert len(emulator.world.jobs) == 1  # the same job went on: no second one
    assert sdk.fine_tuning.jobs.retrieve(job_id).status == "succeeded"
    assert [r.run_id for r in RunStore().list()] == [run.run_id]
    assert isinstance(run.record.events()[-1], Completed)
