"""What the node script and the launcher share: how an event travels in the job log.

The same tagged line as the Ray launcher's (`tunesdk.launchers.ray_entry.TAG`): the tag, then
the event's JSON with the node's run id and seq. SkyPilot may put its own prefix before it
(``(worker1, rank=1, pid=..., ip=...)``), which is ignored.
"""

from __future__ import annotations

import json
from typing import Any

from tunesdk.launchers.ray_entry import TAG as EVENT_TAG


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
