"""`tunesdk resume` of a failed Together run: a new job from the old job's last checkpoint
(``from_checkpoint``), training only the epochs left; a run with no checkpoint says why not."""

from __future__ import annotations

from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk.errors import RunFailed, TuneError
from tunesdk.events import Checkpoint, Completed, Log, Progress
from tunesdk.store import RunRecord, RunStore
from tunesdk_together.emulator import TogetherEmulator

pytestmark = pytest.mark.usefixtures("together_env", "fast_retries")

MODEL = "meta-llama/Llama-3.1-8B-Instruct"


def failed_run(emulator: TogetherEmulator, data_file: Path, *, at_step: int) -> RunRecord:
    """A 2-epoch, 4-step run with a checkpoint at step 2 that fails at ``at_step``."""
    emulator.fail_next_job(at_step=at_step, message="Training failed: node lost")
    job = ts.Job(model=MODEL, data=str(data_file), epochs=2, n_checkpoints=2)
    with pytest.raises(RunFailed):
        job.run(backend="together", progress=False)
    [run] = RunStore().list()
    return run


def test_resume_starts_a_job_from_the_last_checkpoint_with_the_epochs_left(
    together_env: TogetherEmulator, sft_file: Path, invoke
) -> None:
    old = failed_run(together_env, sft_file, at_step=3)
    [first] = together_env.state.list_jobs()
    assert [e.step for e in old.events() if isinstance(e, Checkpoint)] == [2]

    code, _, err = invoke(["resume", old.run_id])

    assert code == 0, err
    second = next(j for j in together_env.state.list_jobs() if j.id != first.id)
    assert second.request["from_checkpoint"] == f"{first.id}:2"
    assert second.request["n_epochs"] == 1  # epoch 1 was done at the checkpoint
    new = next(r for r in RunStore().list() if r.run_id != old.run_id)
    events = new.events()
    assert isinstance(events[-1], Completed)
    assert [e.step for e in events if isinstance(e, Progress)] == [1, 2]
    [note] = [e for e in events if isinstance(e, Log) and "from its checkpoint" in e.message]
    assert f"{first.id}:2 (step 2)" in note.message and "1 epoch(s) left" in note.message
    assert f"resuming {old.run_id}" in err


def test_the_plan_of_the_resumed_run_shows_the_checkpoint(
    together_env: TogetherEmulator, sft_file: Path
) -> None:
    old = failed_run(together_env, sft_file, at_step=3)
    [first] = together_env.state.list_jobs()
    run = ts.Run.submit(old.job, "together", resume=old.run_id)
    run.wait()
    assert run.record.job.backend_options["together"]["from_checkpoint"] == f"{first.id}:2"
    assert run.record.plan.native["create"]["from_checkpoint"] == f"{first.id}:2"


def test_a_run_that_failed_before_any_checkpoint_says_why_and_what_to_run(
    together_env: TogetherEmulator, sft_file: Path, invoke
) -> None:
    old = failed_run(together_env, sft_file, at_step=1)
    jobs = len(together_env.state.list_jobs())

    code, _, err = invoke(["resume", old.run_id])

    assert code == 2
    assert f"run {old.run_id} of this job saved no checkpoint on together" in err
    assert f"tunesdk run {old.dir}/job.json --backend together" in err
    assert len(together_env.state.list_jobs()) == jobs  # nothing created, nothing uploaded
    with pytest.raises(TuneError, match="saved no checkpoint"):
        ts.Run.submit(old.job, "together", resume=old.run_id)

    # the fix it names works as written
    code, _, err = invoke(["run", f"{old.dir}/job.json", "--backend", "together"])
    assert code == 0, err
