"""``sky.jobs``: managed jobs, run on this machine by `sky._controller`."""

from __future__ import annotations

import enum
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sky._state import config, home, job_dir, read_status, request, write_status


class ClusterNotUpError(Exception):
    """``sky.exceptions.ClusterNotUpError``: the jobs controller is not up."""


class ManagedJobStatus(enum.Enum):
    """SkyPilot 0.14's ``sky.jobs.state.ManagedJobStatus`` (the tests compare the names with the
    real enum when SkyPilot's environment is installed)."""

    PENDING = "PENDING"
    DEPRECATED_SUBMITTED = "SUBMITTED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    WINDING_DOWN = "WINDING_DOWN"
    RECOVERING = "RECOVERING"
    CANCELLING = "CANCELLING"
    SUCCEEDED = "SUCCEEDED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"
    FAILED_SETUP = "FAILED_SETUP"
    FAILED_PRECHECKS = "FAILED_PRECHECKS"
    FAILED_NO_RESOURCE = "FAILED_NO_RESOURCE"
    FAILED_CONTROLLER = "FAILED_CONTROLLER"


def launch(task: Any, name: str | None = None, **_: Any) -> str:
    jobs = home() / "jobs"
    jobs.mkdir(exist_ok=True)
    job_id = 1 + max((int(p.name) for p in jobs.iterdir() if p.name.isdigit()), default=0)
    folder = job_dir(job_id)
    folder.mkdir()
    scenario = config().get("scenario", "succeed")
    (folder / "task.json").write_text(json.dumps(task.config))
    # the secrets' values reach the "cluster" (the nodes' environment), never the task file
    (folder / "secrets.json").write_text(json.dumps(task.secrets))
    (folder / "run.log").touch()
    write_status(job_id, status="PENDING", name=name, scenario=scenario, recovery_count=0)
    log = open(folder / "controller.log", "ab")  # noqa: SIM115 - handed to the child
    subprocess.Popen(
        [sys.executable, "-m", "sky._controller", str(job_id)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    return request(([job_id], None))


def queue_v2(
    refresh: bool,
    skip_finished: bool = False,
    all_users: bool = False,
    job_ids: Any = None,
    fields: Any = None,
    **_: Any,
) -> str:
    if config().get("controller_stopped") and not refresh:
        return request(ClusterNotUpError("No in-progress managed jobs."))
    records = []
    for job_id in job_ids or []:
        if not (job_dir(job_id) / "status.json").exists():
            continue
        data = read_status(job_id)
        records.append(
            SimpleNamespace(
                job_id=job_id,
                job_name=data.get("name"),
                status=ManagedJobStatus(data["status"]),
                failure_reason=data.get("failure_reason"),
                recovery_count=data.get("recovery_count", 0),
            )
        )
    return request((records, len(records), {}, len(records)))


def tail_logs(
    name: str | None = None,
    job_id: int | None = None,
    follow: bool = True,
    controller: bool = False,
    refresh: bool = False,
    tail: int | None = None,
    output_stream: io.TextIOBase | None = None,
    **_: Any,
) -> int:
    assert job_id is not None and not follow
    lines = Path(job_dir(job_id) / "run.log").read_text().splitlines()
    if tail:
        lines = lines[-tail:]
    text = "".join(line + "\n" for line in lines)
    (output_stream or sys.stdout).write(text)  # type: ignore[arg-type]
    return 0


def cancel(name: str | None = None, job_ids: Any = None, **_: Any) -> str:
    for job_id in job_ids or []:
        (job_dir(job_id) / "cancel").touch()
    return request(None)
