"""What the node script and the launcher share: how an event travels in the job log."""

from __future__ import annotations

import json
from typing import Any

#: the prefix of an event line in the job log (SkyPilot may put its own prefix before it, such as
#: ``(worker1, rank=1, pid=..., ip=...)``); the event's JSON follows, with the node's run id and seq
EVENT_TAG = "TUNESDK-EVENT "


def event_line(data: dict[str, Any]) -> str:
    """One tagged log line for an event (as JSON)."""
    return EVENT_TAG + json.dumps(data, separators=(",", ":"))


def tagged(line: str) -> dict[str, Any] | None:
    """The event JSON of a tagged log line, or None for any other line."""
    at = line.find(EVENT_TAG)
    if at < 0:
        return None
    try:
        data = json.loads(line[at + len(EVENT_TAG) :])
    except ValueError:
        return None
    return data if isinstance(data, dict) and "type" in data and "seq" in data else None


__all__ = ["EVENT_TAG", "event_line", "tagged"]
