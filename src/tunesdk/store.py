"""The run store: one folder per run under ``$TUNESDK_HOME/runs`` (default ``~/.tunesdk/runs``).

::

    <run_id>/
      job.json        the Job (secrets in backend_options redacted)
      plan.json       the Plan
      state.json      status, worker pid, backend state (remote ids, cursors); never secrets
      events.jsonl    one event per line, seq 1, 2, 3, ... without gaps
      inputs/         data materialized for the worker or converted for upload
      outputs/        checkpoints and the final model
      worker.log      the worker's stdout/stderr;  error.log: the traceback of a failure

Writers take an exclusive ``flock`` on ``.lock``; ``state.json`` is replaced atomically; each event is
one ``write`` of a whole line to an append-only file, so readers in other processes never see half an
event and need no lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunesdk.errors import RunNotFound
from tunesdk.events import TERMINAL_STATUSES, Event, Log, RunStatus, parse_event, status_of

if TYPE_CHECKING:
    from tunesdk.backend import Plan
    from tunesdk.job import Job


def home() -> Path:
    """The tunesdk home folder: ``$TUNESDK_HOME`` or ``~/.tunesdk``."""
    return Path(os.environ.get("TUNESDK_HOME") or "~/.tunesdk").expanduser()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _write_atomic(path: Path, text: str, *, durable: bool = True) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(tmp, path)


class RunStore:
    """All runs under one home folder."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.home = Path(root).expanduser() if root is not None else home()
        self.runs_dir = self.home / "runs"

    def create(self, job: Job, plan: Plan, backend: str) -> RunRecord:
        """A new run folder holding the job, the plan and the initial state."""
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        run_id = f"{backend}-{stamp}-{secrets.token_hex(3)}"
        folder = self.runs_dir / run_id
        folder.mkdir()
        (folder / "inputs").mkdir()
        (folder / "outputs").mkdir()
        job = _materialize_data(job, folder / "inputs")
        _write_atomic(folder / "job.json", json.dumps(redacted_job(job), indent=2))
        _write_atomic(folder / "plan.json", plan.model_dump_json(indent=2))
        state = {
            "run_id": run_id,
            "backend": backend,
            "status": "created",
            "created_at": _now(),
            "updated_at": _now(),
            "last_seq": 0,
            "source_ids": [],
            "events_size": 0,
            "backend_state": {},
        }
        _write_atomic(folder / "state.json", json.dumps(state, indent=2))
        (folder / "events.jsonl").touch()
        return RunRecord(folder, job=job)

    def get(self, run_id: str) -> RunRecord:
        """The run with this id (or the only run whose id starts with it)."""
        folder = self.runs_dir / run_id
        if not (folder / "state.json").exists():
            matches = [p for p in self.runs_dir.glob(f"{run_id}*") if (p / "state.json").exists()]
            if len(matches) != 1:
                raise RunNotFound(run_id, str(self.runs_dir))
            folder = matches[0]
        return RunRecord(folder)

    def list(self) -> list[RunRecord]:
        """Every run, oldest first."""
        if not self.runs_dir.exists():
            return []
        records = [RunRecord(p) for p in self.runs_dir.iterdir() if (p / "state.json").exists()]
        return sorted(records, key=lambda r: r.created_at)


def redacted_job(job: Job) -> dict[str, Any]:
    """The job as a dict with secret-looking backend options replaced by ``***``."""
    from tunesdk.backend import _redact

    data = job.to_dict()
    data["backend_options"] = {
        backend: {key: _redact(key, value) for key, value in options.items()}
        for backend, options in data.get("backend_options", {}).items()
    }
    return data


def _overfitting_log(state: dict[str, Any], event: Event) -> Log | None:
    """The once-per-run overfitting warning this event confirms, if any (never raises: a detector
    bug must not stop event delivery)."""
    try:
        from tunesdk.evaluation.monitor import watch_overfitting

        return watch_overfitting(state, event)
    except Exception:
        return None


def _materialize_data(job: Job, inputs: Path) -> Job:
    """In-memory datasets become JSONL files, so the worker process (and a reattach) can read them."""
    updates: dict[str, Any] = {}
    for name in ("data", "eval_data"):
        value = getattr(job, name)
        if value is not None and not isinstance(value, str | list):
            from tunesdk.data import Dataset

            path = inputs / f"{name}.jsonl"
            Dataset.load(value).to("jsonl", path)
            updates[name] = str(path)
    return job.model_copy(update=updates) if updates else job


class RunRecord:
    """One run's folder: its job, plan, state and event log. Safe across processes."""

    def __init__(self, folder: str | Path, *, job: Job | None = None) -> None:
        self.dir = Path(folder)
        self.run_id = self.dir.name
        self._job = job
        self._stop = threading.Event()

    # ---- paths --------------------------------------------------------------------------------

    @property
    def events_path(self) -> Path:
        return self.dir / "events.jsonl"

    @property
    def inputs_dir(self) -> Path:
        return self.dir / "inputs"

    @property
    def outputs_dir(self) -> Path:
        return self.dir / "outputs"

    @property
    def error_log(self) -> Path:
        return self.dir / "error.log"

    @property
    def worker_log(self) -> Path:
        return self.dir / "worker.log"

    # ---- job, plan, state ---------------------------------------------------------------------

    @property
    def job(self) -> Job:
        """The job (the submitting process's own object, or the stored copy after a reattach)."""
        if self._job is None:
            from tunesdk.job import Job

            self._job = Job.from_dict(json.loads((self.dir / "job.json").read_text("utf-8")))
        return self._job

    @property
    def plan(self) -> Plan:
        from tunesdk.backend import Plan

        return Plan.model_validate_json((self.dir / "plan.json").read_text("utf-8"))

    def _read_state(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.dir / "state.json").read_text("utf-8"))
        return data

    @property
    def backend(self) -> str:
        return str(self._read_state()["backend"])

    @property
    def status(self) -> RunStatus:
        status: RunStatus = self._read_state()["status"]
        return status

    @property
    def created_at(self) -> str:
        return str(self._read_state()["created_at"])

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def state(self) -> dict[str, Any]:
        """The backend's own persisted state (remote job id, file ids, cursors, worker pid...)."""
        state: dict[str, Any] = self._read_state()["backend_state"]
        return state

    def update_state(self, **values: Any) -> None:
        """Merge ``values`` into the backend state, atomically."""
        with self._locked():
            data = self._read_state()
            data["backend_state"].update(values)
            data["updated_at"] = _now()
            _write_atomic(self.dir / "state.json", json.dumps(data, indent=2))

    # ---- events -------------------------------------------------------------------------------

    def emit(self, event: Event) -> Event | None:
        """Append ``event``, stamped with run id, next seq and time. Returns ``None`` when dropped:
        its ``source_id`` was seen before, or the run already ended."""
        with self._locked():
            data = self._recover(self._read_state())
            if data["status"] in TERMINAL_STATUSES:
                return None
            if event.source_id is not None:
                if event.source_id in data["source_ids"]:
                    return None
                data["source_ids"].append(event.source_id)
            stamped = self._append(data, event)
            extra = _overfitting_log(data, stamped)
            if extra is not None:
                self._append(data, extra)
            data["updated_at"] = _now()
            _write_atomic(self.dir / "state.json", json.dumps(data, indent=2), durable=False)
            return stamped

    def _append(self, data: dict[str, Any], event: Event) -> Event:
        """Write ``event`` (stamped with the next seq) to the log and record it in ``data``.
        The caller holds the lock and saves ``data``."""
        seq = data["last_seq"] + 1
        stamped = event.model_copy(update={"run_id": self.run_id, "seq": seq})
        line = (stamped.to_json() + "\n").encode("utf-8")
        fd = os.open(self.events_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            # No fsync per event: a crashed process's writes survive in the page cache, and
            # _recover() repairs a log/state mismatch; fsync per event only guards against power loss.
            os.write(fd, line)
            data["events_size"] = os.fstat(fd).st_size
        finally:
            os.close(fd)
        data["last_seq"] = seq
        new_status = status_of(stamped)
        if new_status is not None:
            data["status"] = new_status
        return stamped

    def _recover(self, data: dict[str, Any]) -> dict[str, Any]:
        """Bring the state up to date with events a writer appended before dying mid-emit.

        ``state.json`` records the event log's size after each append; a larger log means the last
        writer died between appending and saving state, so those lines are read back (and a torn
        final line is cut off) before the next seq is handed out.
        """
        recorded = int(data.get("events_size", 0))
        actual = self.events_path.stat().st_size if self.events_path.exists() else 0
        if actual == recorded:
            return data
        with open(self.events_path, "rb+") as handle:
            handle.seek(recorded)
            offset = recorded
            for raw in handle:
                if not raw.endswith(b"\n"):
                    handle.truncate(offset)
                    break
                offset += len(raw)
                event = parse_event(raw)
                data["last_seq"] = max(data["last_seq"], event.seq)
                if event.source_id is not None and event.source_id not in data["source_ids"]:
                    data["source_ids"].append(event.source_id)
                status = status_of(event)
                if status is not None:
                    data["status"] = status
        data["events_size"] = offset
        return data

    def log(self, message: str, level: str = "info") -> None:
        self.emit(Log(message=message, level=level))

    def events(self, after: int = 0) -> list[Event]:
        """Events with ``seq > after``, in order (only whole lines)."""
        return list(self.iter_events(after))

    def iter_events(self, after: int = 0) -> Iterator[Event]:
        try:
            with open(self.events_path, "rb") as handle:
                for raw in handle:
                    if not raw.endswith(b"\n"):
                        break  # a line still being written
                    event = parse_event(raw)
                    if event.seq > after:
                        yield event
        except FileNotFoundError:
            return

    # ---- cancellation (checked by training loops) ---------------------------------------------

    def request_stop(self) -> None:
        """Ask the training loop in this process to stop at the next step (set by SIGTERM)."""
        self._stop.set()

    def should_stop(self) -> bool:
        """True once a cancel was requested for this run."""
        return self._stop.is_set() or bool(self._read_state().get("cancel_requested"))

    def mark_cancel_requested(self) -> None:
        with self._locked():
            data = self._read_state()
            data["cancel_requested"] = True
            _write_atomic(self.dir / "state.json", json.dumps(data, indent=2))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @contextlib.contextmanager
    def poll_lease(self) -> Iterator[bool]:
        """Non-blocking: yields True in the one process allowed to poll the backend right now."""
        fd = os.open(self.dir / ".poll.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __repr__(self) -> str:
        return f"<RunRecord {self.run_id}>"


__all__ = ["RunRecord", "RunStore", "home"]
