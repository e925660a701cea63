"""Reading a run folder's ``state.json`` and seeing what is wrong with a folder, without tracebacks."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

from tunesdk.errors import RunDamaged, RunNotFound
from tunesdk.events import RunStatus
from tunesdk.store.ids import RUN_ID

STATUSES: frozenset[str] = frozenset(get_args(RunStatus))
#: the status a listing shows for a run whose files are damaged
DAMAGED = "damaged"

_FIELDS: dict[str, type | tuple[type, ...]] = {
    "backend": str,
    "status": str,
    "created_at": str,
    "last_seq": int,
    "source_ids": list,
    "events_size": int,
    "backend_state": dict,
}


def short_reason(exc: BaseException, limit: int = 160) -> str:
    """One line about a parse error, bounded (pydantic's messages run to many lines)."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            first = errors()[0]
            where = ".".join(str(part) for part in first.get("loc", ()))
            text = f"{first.get('msg', '')}" + (f" at {where}" if where else "")
        except Exception:
            text = str(exc)
    else:
        text = str(exc)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_state(folder: Path) -> dict[str, Any]:
    """The parsed ``state.json`` of the run in ``folder``; RunDamaged saying what is wrong."""
    path = folder / "state.json"
    run_id = folder.name
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        if not folder.is_dir():  # the run was deleted (tunesdk rm) under the reader
            raise RunNotFound(run_id, str(folder.parent)) from None
        raise RunDamaged(run_id, "state.json is missing", path=str(path)) from None
    except (OSError, ValueError) as exc:  # ValueError: not UTF-8
        reason = getattr(exc, "strerror", None) or short_reason(exc)
        raise RunDamaged(run_id, f"state.json cannot be read ({reason})", path=str(path)) from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise RunDamaged(
            run_id, f"state.json is not valid JSON ({short_reason(exc)})", path=str(path)
        ) from None
    if not isinstance(data, dict):
        raise RunDamaged(run_id, "state.json does not hold an object", path=str(path))
    for key, kind in _FIELDS.items():
        if not isinstance(data.get(key), kind) or isinstance(data.get(key), bool):
            problem = "lacks" if key not in data else "has a bad"
            raise RunDamaged(run_id, f"state.json {problem} {key!r} field", path=str(path))
    if data["status"] not in STATUSES:
        raise RunDamaged(
            run_id, f"state.json has an unknown status {data['status'][:40]!r}", path=str(path)
        )
    return data


def file_signature(path: str | Path) -> str:
    """Changes whenever ``path`` is replaced or written (inode, mtime, size); ``-`` when missing."""
    try:
        st = os.stat(path)
    except OSError:
        return "-"
    return f"{st.st_ino}:{st.st_mtime_ns}:{st.st_size}"


def created_from_id(run_id: str) -> str:
    """The creation time a run id carries (for runs whose state.json cannot be read)."""
    if RUN_ID.fullmatch(run_id):
        stamp = "-".join(run_id.rsplit("-", 3)[1:3])
        try:
            when = datetime.strptime(stamp, "%Y%m%d-%H%M%S").replace(tzinfo=UTC)
            return when.isoformat(timespec="milliseconds")
        except ValueError:
            pass
    return datetime.fromtimestamp(0, UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class RunSummary:
    """One row of the run list: what ``tunesdk runs`` shows, read from the index."""

    run_id: str
    backend: str | None
    #: a RunStatus, or ``"damaged"`` when the run's files are damaged (``problem`` says how)
    status: str
    created_at: str
    updated_at: str | None
    problem: str | None
    #: the folder holding the run folders (``dir`` is this plus the id, built when asked for)
    runs_dir: Path

    @property
    def dir(self) -> Path:
        """The run's folder."""
        return self.runs_dir / self.run_id

    @property
    def damaged(self) -> bool:
        return self.problem is not None

    @property
    def terminal(self) -> bool:
        return self.status in ("completed", "failed", "cancelled")

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "backend": self.backend,
            "status": self.status,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "problem": self.problem,
            "dir": str(self.dir),
        }


def summarize_folder(folder: Path) -> RunSummary:
    """The summary of the run in ``folder``, damage included (never raises RunDamaged; raises
    RunNotFound when the folder is gone)."""
    try:
        data = load_state(folder)
    except RunDamaged as exc:
        return RunSummary(
            run_id=folder.name,
            backend=_backend_from_id(folder.name),
            status=DAMAGED,
            created_at=created_from_id(folder.name),
            updated_at=None,
            problem=exc.problem,
            runs_dir=folder.parent,
        )
    problem = None
    for name in ("job.json", "plan.json"):
        if not (folder / name).is_file():
            problem = f"{name} is missing"
            break
    return RunSummary(
        run_id=folder.name,
        backend=data["backend"],
        status=DAMAGED if problem else data["status"],
        created_at=data["created_at"],
        updated_at=data.get("updated_at") if isinstance(data.get("updated_at"), str) else None,
        problem=problem,
        runs_dir=folder.parent,
    )


def _backend_from_id(run_id: str) -> str | None:
    return run_id.rsplit("-", 3)[0] if RUN_ID.fullmatch(run_id) else None


__all__ = [
    "DAMAGED",
    "STATUSES",
    "RunSummary",
    "created_from_id",
    "file_signature",
    "load_state",
    "short_reason",
    "summarize_folder",
]
