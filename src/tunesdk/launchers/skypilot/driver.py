"""The SkyPilot side of tunesdk's skypilot launcher: a standalone script run with the SkyPilot
environment's own interpreter (``python driver.py COMMAND`` with a JSON request on stdin).

SkyPilot cannot share an interpreter with the training stack (it pins click<8.2 and
uvicorn<0.36), so tunesdk never imports it: it runs this file, which imports only the standard
library and SkyPilot's Python SDK, and reads back one result line (`RESULT` + JSON) on stdout —
SkyPilot's own messages may come before it. Commands:

- ``version``: SkyPilot's version and its managed-job statuses.
- ``validate``: parse a task with ``sky.Task.from_yaml_config`` (offline) and describe it.
- ``accelerators``: which of the given accelerator names SkyPilot knows, offline: its cached
  catalog (``common/accelerators.csv``) when one was downloaded, else its canonical GPU names.
- ``clouds``: the enabled infra (``sky check``'s result) and the clouds with object storage.
- ``batch``: several of these in one process.
- ``launch``: ``sky.jobs.launch`` a task as a managed job; the job id.
- ``poll``: the job's record from ``sky.jobs.queue_v2`` (status, failure reason, recoveries) and
  the last ``tail`` lines of its log (``sky.jobs.tail_logs(follow=False)``).
- ``cancel``: ``sky.jobs.cancel``.

Every SkyPilot call returns a request id; ``sky.get`` waits for its result.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import traceback
from typing import Any

# run as a file, its folder would come first on sys.path, where tunesdk's modules could shadow
# SkyPilot's imports
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

RESULT = "TUNESDK-SKYPILOT-RESULT "


def _task(request: dict[str, Any]) -> Any:
    import sky

    secrets = [
        (name, os.environ[name]) for name in request.get("secrets", []) if name in os.environ
    ]
    return sky.Task.from_yaml_config(dict(request["task"]), secrets_overrides=secrets or None)


def _describe(task: Any) -> dict[str, Any]:
    resources = []
    for r in task.resources:
        resources.append(
            {
                "accelerators": dict(r.accelerators) if r.accelerators else None,
                "use_spot": bool(r.use_spot),
                "job_recovery": r.job_recovery,
                "cloud": str(r.cloud) if r.cloud is not None else None,
            }
        )
    storage = {}
    for path, store in (task.storage_mounts or {}).items():
        mode = getattr(store, "mode", None)
        storage[path] = {
            "source": getattr(store, "source", None),
            "mode": getattr(mode, "value", str(mode)) if mode is not None else None,
        }
    return {
        "name": task.name,
        "num_nodes": task.num_nodes,
        "resources": resources,
        "file_mounts": dict(task.file_mounts or {}),
        "storage_mounts": storage,
        "envs": dict(task.envs or {}),
        "secrets": sorted(getattr(task, "secrets", {}) or {}),
        "setup": task.setup,
        "run": task.run,
    }


def version(request: dict[str, Any]) -> dict[str, Any]:
    """SkyPilot's version and its managed-job statuses (``sky.jobs.ManagedJobStatus``)."""
    import sky

    statuses = {status.name: status.value for status in sky.jobs.ManagedJobStatus}
    return {"version": sky.__version__, "python": sys.executable, "statuses": statuses}


def validate(request: dict[str, Any]) -> dict[str, Any]:
    """One task (``task``), or several at once (``tasks``: ``{"described": [...]}``)."""
    if "tasks" in request:
        return {"described": [_describe(_task({"task": task})) for task in request["tasks"]]}
    return _describe(_task(request))


def _catalog_names() -> tuple[list[str], str | None]:
    """Accelerator names from SkyPilot's cached catalog (never downloaded here), else None."""
    try:
        from sky.catalog import common

        path = common.get_catalog_path("common/accelerators.csv")
    except Exception:
        return [], None
    if not os.path.exists(path):
        return [], None
    with open(path, newline="", encoding="utf-8") as handle:
        return [row["AcceleratorName"] for row in csv.DictReader(handle)], path


def accelerators(request: dict[str, Any]) -> dict[str, Any]:
    names, catalog = _catalog_names()
    source = f"SkyPilot's catalog {catalog}" if catalog else None
    if not names:
        try:
            from sky.utils import gpu_names

            names = list(gpu_names.CANONICAL_GPU_NAMES)
            source = "SkyPilot's canonical GPU names (sky.utils.gpu_names)"
        except Exception:
            names = []
    lower = {name.lower(): name for name in names}
    asked = request.get("names", [])
    known = {}
    for name in asked:
        if name.lower() in lower:
            known[name] = lower[name.lower()]
        elif name.lower().startswith("tpu-"):
            known[name] = name.lower()
    return {"source": source, "known": known, "names": sorted(names)}


def clouds(request: dict[str, Any]) -> dict[str, Any]:
    import sky
    from sky.client import sdk

    enabled = sky.get(sdk.enabled_clouds())
    try:
        from sky.data.storage import STORE_ENABLED_CLOUDS

        storage = [str(c) for c in STORE_ENABLED_CLOUDS]
    except Exception:
        storage = []
    return {"enabled": [str(c) for c in enabled or []], "storage": storage}


def batch(request: dict[str, Any]) -> dict[str, Any]:
    """Several commands in one process (SkyPilot's import is the slow part): ``calls`` is a
    list of ``[command, request]``; the results in order (the first failure is raised)."""
    return {"results": [COMMANDS[name](body) for name, body in request["calls"]]}


def launch(request: dict[str, Any]) -> dict[str, Any]:
    import sky

    task = _task(request)
    job_ids, _handle = sky.get(sky.jobs.launch(task, name=request.get("name")))
    if not job_ids:
        raise RuntimeError("sky.jobs.launch returned no job id")
    return {"job_id": int(job_ids[0])}


def _field(record: Any, name: str) -> Any:
    return record.get(name) if isinstance(record, dict) else getattr(record, name, None)


#: statuses whose job has a log to read: the job ran on a cluster, which is up (or has ended
#: and SkyPilot kept its log); while it is provisioning or recovering there is none to wait for
LOG_STATUSES = (
    "RUNNING",
    "WINDING_DOWN",
    "CANCELLING",
    "SUCCEEDED",
    "FAILED",
    "FAILED_SETUP",
    "FAILED_CONTROLLER",
    "CANCELLED",
)


def poll(request: dict[str, Any]) -> dict[str, Any]:
    import sky

    job_id = int(request["job_id"])
    fields = ["job_id", "job_name", "status", "failure_reason", "recovery_count", "end_at"]
    try:
        found = sky.get(sky.jobs.queue_v2(refresh=False, job_ids=[job_id], fields=fields))
    except Exception as exc:
        # a jobs controller that stopped after its jobs ended answers nothing (SkyPilot raises
        # ClusterNotUpError "No in-progress managed jobs."): ask again, starting it
        if type(exc).__name__ != "ClusterNotUpError":
            raise
        found = sky.get(sky.jobs.queue_v2(refresh=True, job_ids=[job_id], fields=fields))
    records = found[0] if isinstance(found, tuple) else found
    records = [r for r in records or [] if _field(r, "job_id") == job_id]
    result: dict[str, Any] = {"status": None, "failure_reason": None, "recovery_count": 0}
    if records:
        record = records[-1]
        status = _field(record, "status")
        result["status"] = getattr(status, "value", status)
        result["failure_reason"] = _field(record, "failure_reason")
        result["recovery_count"] = _field(record, "recovery_count") or 0
    lines: list[str] = []
    if request.get("logs", True) and result["status"] in LOG_STATUSES:
        buffer = io.StringIO()
        try:
            sky.jobs.tail_logs(
                job_id=job_id, follow=False, tail=request.get("tail"), output_stream=buffer
            )
        except Exception as exc:  # no log (yet): the status still counts
            result["log_error"] = f"{type(exc).__name__}: {exc}"[:500]
        lines = buffer.getvalue().splitlines()
    result["lines"] = lines
    return result


def cancel(request: dict[str, Any]) -> dict[str, Any]:
    import sky

    sky.get(sky.jobs.cancel(job_ids=[int(request["job_id"])]))
    return {"cancelled": int(request["job_id"])}


COMMANDS = {
    "version": version,
    "validate": validate,
    "accelerators": accelerators,
    "clouds": clouds,
    "batch": batch,
    "launch": launch,
    "poll": poll,
    "cancel": cancel,
}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in COMMANDS:
        print(f"usage: driver.py {{{','.join(COMMANDS)}}} < request.json", file=sys.stderr)
        return 2
    try:
        text = sys.stdin.read()
        request = json.loads(text) if text.strip() else {}
        result = {"ok": True, "result": COMMANDS[argv[0]](request)}
    except ImportError as exc:
        result = {"ok": False, "error": "ImportError", "message": str(exc)}
    except BaseException as exc:  # every failure goes back as one readable result
        message = str(exc).strip() or type(exc).__name__
        result = {
            "ok": False,
            "error": type(exc).__name__,
            "message": message[:2000],
            "traceback": traceback.format_exc()[-4000:],
        }
    sys.stdout.write("\n" + RESULT + json.dumps(result, default=str) + "\n")
    sys.stdout.flush()
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
