"""Resuming a failed Fireworks run: Fireworks reports no checkpoint of a failed job, so resume
says so and names the command that starts the job again, before anything is uploaded."""

from __future__ import annotations

from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk.errors import RunFailed, TuneError
from tunesdk.store import RunStore
from tunesdk_fireworks.emulator import FireworksEmulator

pytestmark = pytest.mark.usefixtures("fireworks_env")


def test_resume_of_a_failed_run_says_why_not_and_what_to_run(
    fireworks_env: FireworksEmulator, tmp_path: Path, samples
) -> None:
    fireworks_env.config.fail_at_step = 3
    train = samples.write(tmp_path / "train.jsonl", samples.chat(8))
    job = ts.Job(model="Qwen/Qwen2.5-7B-Instruct", data=str(train), epochs=2, batch_size=2)
    with pytest.raises(RunFailed):
        job.run(backend="fireworks", progress=False)
    [old] = RunStore().list()

    with pytest.raises(TuneError) as raised:
        ts.Run.submit(old.job, "fireworks", resume=old.run_id)

    assert "saved no checkpoint on fireworks" in str(raised.value)
    fix = f"run the job again from the start: tunesdk run {old.dir}/job.json --backend fireworks"
    assert raised.value.fix == fix
    assert len(RunStore().list()) == 1  # refused before a new run (or an upload) began
