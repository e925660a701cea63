"""Resuming a failed OpenAI run: a new job fine-tunes the last checkpoint model
(``ft:...:ckpt-step-N``) for the epochs left."""

from __future__ import annotations

import pytest

import tunesdk as ts
from tunesdk.errors import RunFailed
from tunesdk.events import Checkpoint, Completed, Log, Progress
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
