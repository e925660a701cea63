"""The boundary to SkyPilot: its interpreter, found on this machine, running `driver` commands.

SkyPilot lives in an environment of its own (it pins click<8.2 and uvicorn<0.36, below what the
training stack needs), as most users have it: ``pipx install skypilot``, a virtualenv of its
own, or ``tunesdk engine install skypilot``. Which interpreter, in order:

1. ``$TUNESDK_SKYPILOT_PYTHON`` (an interpreter you manage, with your cloud extras);
2. the interpreter behind the ``sky`` command on ``PATH`` (read from its ``#!`` line);
3. the managed environment ``tunesdk engine install skypilot`` builds from
   ``src/tunesdk/engine_locks/skypilot.txt`` (``$TUNESDK_HOME/engines/skypilot``).

`SkyJobs` runs ``PYTHON driver.py COMMAND`` with a JSON request on stdin and reads one JSON result
back; every call is a process (SkyPilot's import takes about a second), so the launcher polls
every few seconds. Tests swap in a fake ``sky`` package on ``PYTHONPATH``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesdk.errors import TuneError

PYTHON_ENV = "TUNESDK_SKYPILOT_PYTHON"
DRIVER = Path(__file__).with_name("driver.py")
#: the result line the driver prints last (see `tunesdk.launchers.skypilot.driver.RESULT`)
RESULT = "TUNESDK-SKYPILOT-RESULT "
INSTALL_FIX = (
    "install SkyPilot in its own environment: `tunesdk engine install skypilot` (the client "
    "alone), or `pipx install 'skypilot[aws]'` (your clouds' extras) so `sky` is on PATH, or "
    f"set ${PYTHON_ENV} to an interpreter that has it; then enable a cloud with `sky check`"
)


class SkyPilotMissing(TuneError):
    """No interpreter with SkyPilot was found."""


class SkyPilotError(TuneError):
    """A SkyPilot call failed; ``kind`` is SkyPilot's exception name."""

    def __init__(self, message: str, *, kind: str, fix: str | None = None) -> None:
        self.kind = kind
        super().__init__(message, fix=fix)


@dataclass(frozen=True)
class Interpreter:
    python: Path
    #: how it was found: "env", "path" (the sky command) or "managed"
    source: str


def _shebang_python(script: Path) -> Path | None:
    try:
        first = script.resolve().read_bytes()[:400].split(b"\n", 1)[0].decode()
    except (OSError, UnicodeDecodeError):
        return None
    if not first.startswith("#!"):
        return None
    parts = first[2:].strip().split()
    if not parts:
        return None
    if Path(parts[0]).name == "env" and len(parts) > 1:
        found = shutil.which(parts[1])
        return Path(found) if found else None
    return Path(parts[0])


def find_interpreter() -> Interpreter | None:
    """The interpreter that runs SkyPilot here (see the module docstring), or None."""
    given = os.environ.get(PYTHON_ENV)
    if given:
        python = Path(given).expanduser()
        if not python.exists():
            raise SkyPilotMissing(
                f"${PYTHON_ENV} names {python}, which does not exist",
                where=f"${PYTHON_ENV}",
                fix=f"point it at the python of SkyPilot's environment, or unset it; {INSTALL_FIX}",
            )
        return Interpreter(python, "env")
    sky = shutil.which("sky")
    behind = _shebang_python(Path(sky)) if sky else None
    if behind is not None and behind.exists():
        return Interpreter(behind, "path")
    from tunesdk.engines import find_managed

    managed = find_managed("skypilot")
    if managed is not None:
        return Interpreter(managed.python, "managed")
    return None


@dataclass(frozen=True)
class JobStatus:
    """A managed job's state, as ``sky jobs queue`` shows it."""

    status: str | None
    failure_reason: str | None = None
    recovery_count: int = 0
    lines: list[str] = field(default_factory=list)


class SkyJobs:
    """SkyPilot's managed-jobs API (``sky.jobs``), called through `driver` in SkyPilot's own
    interpreter. One method per driver command."""

    def __init__(self, python: str | Path, *, timeout: float = 600.0) -> None:
        self.python = str(python)
        self.timeout = timeout

    def call(self, command: str, request: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run one driver command; its result, or SkyPilotError with SkyPilot's message."""
        try:
            done = subprocess.run(
                [self.python, str(DRIVER), command],
                input=json.dumps(request or {}),
                capture_output=True,
                text=True,
                timeout=self.timeout,
                env=os.environ.copy(),
            )
        except subprocess.TimeoutExpired:
            raise SkyPilotError(
                f"SkyPilot did not answer `{command}` within {self.timeout:.0f} s",
                kind="Timeout",
                fix="check the SkyPilot API server with `sky api status`",
            ) from None
        except OSError as exc:
            raise SkyPilotMissing(
                f"cannot run SkyPilot's interpreter {self.python} ({exc.strerror or exc})",
                fix=INSTALL_FIX,
            ) from None
        for line in reversed(done.stdout.splitlines()):
            if line.startswith(RESULT):
                answer = json.loads(line[len(RESULT) :])
                break
        else:
            tail = (done.stderr or done.stdout).strip()[-600:]
            raise SkyPilotError(
                f"SkyPilot's driver gave no result for `{command}` (exit code "
                f"{done.returncode}): {tail}",
                kind="DriverCrashed",
                fix=f"check that {self.python} runs SkyPilot: `{self.python} -c 'import sky'`",
            )
        if answer.get("ok"):
            return dict(answer["result"])
        kind = str(answer.get("error"))
        message = str(answer.get("message"))
        if kind == "ImportError":
            raise SkyPilotMissing(
                f"{self.python} cannot import SkyPilot ({message})", fix=INSTALL_FIX
            )
        raise SkyPilotError(f"SkyPilot: {kind}: {message}", kind=kind)

    def batch(self, *calls: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
        """Several driver commands in one SkyPilot process; their results in order."""
        found = self.call("batch", {"calls": [list(call) for call in calls]})
        return [dict(result) for result in found["results"]]

    def version(self) -> dict[str, Any]:
        """``{"version", "python", "statuses": {name: value}}``."""
        return self.call("version")

    def validate(self, task: dict[str, Any]) -> dict[str, Any]:
        """The task as ``sky.Task.from_yaml_config`` parsed it (offline)."""
        return self.call("validate", {"task": task})

    def validate_all(self, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """`validate` for several tasks in one SkyPilot process."""
        return list(self.call("validate", {"tasks": tasks})["described"])

    def accelerators(self, names: list[str]) -> dict[str, Any]:
        """``{"source", "known": {asked: canonical}, "names"}`` from SkyPilot's offline data."""
        return self.call("accelerators", {"names": names})

    def clouds(self) -> dict[str, list[str]]:
        """``{"enabled": [...], "storage": [...]}``: enabled infra, clouds with object storage."""
        found = self.call("clouds")
        return {"enabled": list(found["enabled"]), "storage": list(found["storage"])}

    def launch(self, task: dict[str, Any], *, name: str, secrets: list[str]) -> int:
        """Launch ``task`` as a managed job; its id. Secrets' values come from this process's
        environment into SkyPilot's secrets, never into the task."""
        found = self.call("launch", {"task": task, "name": name, "secrets": secrets})
        return int(found["job_id"])

    def poll(self, job_id: int, *, tail: int | None, logs: bool = True) -> JobStatus:
        found = self.call("poll", {"job_id": job_id, "tail": tail, "logs": logs})
        return JobStatus(
            status=found.get("status"),
            failure_reason=found.get("failure_reason"),
            recovery_count=int(found.get("recovery_count") or 0),
            lines=[str(line) for line in found.get("lines", [])],
        )

    def cancel(self, job_id: int) -> None:
        self.call("cancel", {"job_id": job_id})


__all__ = [
    "INSTALL_FIX",
    "PYTHON_ENV",
    "Interpreter",
    "JobStatus",
    "SkyJobs",
    "SkyPilotError",
    "SkyPilotMissing",
    "find_interpreter",
]
