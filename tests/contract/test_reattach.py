"""A run outlives the process that submitted it: ``Run.attach`` from a fresh process after the
submitter was SIGKILLed mid-run finishes following it, losing and repeating nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

import tunesdk as ts
from tunesdk.events import Completed

if TYPE_CHECKING:
    from conftest import Harness

SUBMIT_THEN_DIE = textwrap.dedent(
    """
    import os, signal, sys
    import tunesdk as ts
    from tunesdk.events import Progress

    run = ts.Job.from_json(sys.argv[1]).submit(sys.argv[2])
    print(run.run_id, flush=True)
    for event in run.events():
        if isinstance(event, Progress):
            os.kill(os.getpid(), signal.SIGKILL)  # die mid-run, without any cleanup
    """
)


@pytest.mark.parametrize("harness", ["simulated", "openai", "together", "fireworks"], indirect=True)
def test_attach_finishes_a_run_whose_submitter_was_killed(harness: Harness) -> None:
    spec = harness.folder / "job.json"
    harness.job().to_json(spec)
    remote_jobs = harness.provider.jobs() if harness.provider else 0
    with harness.slow():
        child = subprocess.run(
            [sys.executable, "-c", SUBMIT_THEN_DIE, str(spec), harness.name],
            capture_output=True,
            text=True,
            env=os.environ.copy(),
            timeout=120,
        )
        assert child.returncode == -9, child.stderr
        run = ts.Run.attach(child.stdout.split()[0])
        events = list(run.events())

    assert isinstance(events[-1], Completed)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    sources = [e.source_id for e in events if e.source_id]
    assert len(sources) == len(set(sources))
    if harness.provider:
        assert harness.provider.jobs() == remote_jobs + 1
