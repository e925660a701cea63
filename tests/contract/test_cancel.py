"""cancel() ends a live run `cancelled`, with one terminal event."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tunesdk.errors import RunCancelled
from tunesdk.events import Cancelled, Event, Progress

if TYPE_CHECKING:
    from conftest import Harness


# trl is left out: its worker needs seconds to import torch before it can be cancelled mid-run
@pytest.mark.parametrize("harness", ["simulated", "openai", "together", "fireworks"], indirect=True)
def test_cancel_ends_the_run_cancelled(harness: Harness) -> None:
    with harness.slow():
        run = harness.long_job().submit(harness.name)
        seen: list[Event] = []
        for event in run.events():
            seen.append(event)
            if isinstance(event, Progress) and not run.done:
                run.cancel()

    assert run.status == "cancelled"
    terminal = [e for e in seen if e.terminal]
    assert len(terminal) == 1 and isinstance(seen[-1], Cancelled)
    progress = [e for e in seen if isinstance(e, Progress)]
    assert progress and progress[-1].step < (progress[-1].total_steps or 100)
    with pytest.raises(RunCancelled):
        run.wait(timeout=10)
