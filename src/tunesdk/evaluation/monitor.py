"""The overfitting watch the run store applies to every event it appends, for every backend."""

from __future__ import annotations

from typing import Any

from tunesdk.evaluation.overfitting import OverfitTracker
from tunesdk.events import Evaluation, Event, Log, Progress

#: key of the detector's summary in a run's state.json
STATE_KEY = "overfitting"


def watch_overfitting(state: dict[str, Any], event: Event) -> Log | None:
    """Update the run state's small overfitting summary with ``event``; return the warning Log
    to append when this event confirms overfitting (at most once per run)."""
    if not isinstance(event, Progress | Evaluation):
        return None
    tracker = OverfitTracker(state.get(STATE_KEY), keep_points=False)
    warning = tracker.observe(event)
    state[STATE_KEY] = tracker.to_state()
    return None if warning is None else Log(level="warning", message=warning.message)


__all__ = ["STATE_KEY", "watch_overfitting"]
