"""A FAKE of SkyPilot's client (``import sky``) for tunesdk's skypilot launcher tests.

It offers the calls tunesdk's driver makes — ``sky.Task.from_yaml_config``, ``sky.jobs.launch``,
``queue_v2``, ``tail_logs``, ``cancel``, ``sky.get`` and ``sky.client.sdk.enabled_clouds`` —
with SkyPilot 0.14's shapes: every call returns a request id that ``sky.get`` resolves. A managed
job is run on this machine by a controller process (`sky._controller`) whose statuses follow
SkyPilot's managed-job state machine (``sky.jobs.ManagedJobStatus``): PENDING → STARTING →
RUNNING (→ RECOVERING → RUNNING) → SUCCEEDED / FAILED_* / CANCELLING → CANCELLED. Each node runs
the task's ``run`` script with SkyPilot's variables (``SKYPILOT_NODE_RANK``, ...), its home a
folder of its own (so ``~/...`` mounts land there), buckets folders under ``$FAKE_SKY_HOME``.

State lives in ``$FAKE_SKY_HOME``: ``config.json`` (``enabled`` clouds, ``scenario`` for the
next launch) and one folder per job. Never contacts any network.
"""

from __future__ import annotations

from typing import Any

from sky import jobs
from sky._state import get
from sky.task import Task

__version__ = "0.14.1+fake"

__all__ = ["Task", "get", "jobs"]


def stream_and_get(request_id: Any) -> Any:
    return get(request_id)
