"""The fake's state: requests resolved in-process, jobs in folders under $FAKE_SKY_HOME."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

_requests: dict[str, Any] = {}


def home() -> Path:
    root = Path(os.environ["FAKE_SKY_HOME"])
    root.mkdir(parents=True, exist_ok=True)
    return root


def config() -> dict[str, Any]:
    path = home() / "config.json"
    return json.loads(path.read_text()) if path.exists() else {}


def request(result: Any) -> str:
    """A request id whose result is ``result`` (SkyPilot's API server would compute it)."""
    rid = uuid.uuid4().hex
    _requests[rid] = result
    return rid


def get(request_id: str) -> Any:
    result = _requests.pop(request_id)
    if isinstance(result, BaseException):
        raise result
    return result


def job_dir(job_id: int) -> Path:
    return home() / "jobs" / str(job_id)


def read_status(job_id: int) -> dict[str, Any]:
    return json.loads((job_dir(job_id) / "status.json").read_text())


def write_status(job_id: int, **values: Any) -> None:
    path = job_dir(job_id) / "status.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(values)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)
    with open(job_dir(job_id) / "history.log", "a") as handle:
        handle.write(str(data.get("status")) + "\n")
