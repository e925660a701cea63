"""One run's folder: its job, plan, state and event log, safe across processes and against damage.

Writers take an exclusive ``flock`` on ``.lock``; ``state.json`` is replaced atomically; each event is
one ``write`` of a whole line to an append-only file, so readers in other processes never see half an
event and need no lock. ``state.json`` records the log's size after each append, which lets the next
writer repair what a dead writer or a full disk left behind (`RunRecord._recover`).

A damaged file (garbage in ``state.json``, a line of ``events.jsonl`` that is not an event, a missing
``job.json``) raises `RunDamaged` naming the file and the problem — for that run only.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from tunesdk.errors import RunDamaged
from tunesdk.events import TERMINAL_STATUSES, Event, Log, RunStatus, parse_event, status_of
from tunesdk.store.files import now, write_atomic
from tunesdk.store.index import RunIndex
from tunesdk.store.state import load_state, short_reason

if TYPE_CHECKING:
    from tunesdk.backend import Plan
    from tunesdk.job import Job


def _overfitting_log(state: dict[str, Any], event: Event) -> Log | None:
    """The once-per-run overfitting warning this event confirms, if any (never raises: a detector
    bug must not stop event delivery)."""
    try:
        from tunesdk.evaluation.monitor import watch_overfitting

        return watch_overfitting(state, event)
    except Exception:
        return None


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

            data = self._read_json("job.json")
            try:
                self._job = Job.from_dict(data)
            except Exception as exc:
                problem = f"job.json is not a valid job ({short_reason(exc)})"
                raise self._damaged("job.json", problem) from None
        return self._job

    @property
    def plan(self) -> Plan:
        from tunesdk.backend import Plan

        data = self._read_json("plan.json")
        try:
            return Plan.model_validate(data)
        except Exception as exc:
            problem = f"plan.json is not a valid plan ({short_reason(exc)})"
            raise self._damaged("plan.json", problem) from None

    def _read_json(self, name: str) -> Any:
        path = self.dir / name
        try:
            return json.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            raise self._damaged(name, f"{name} is missing") from None
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or short_reason(exc)
            raise self._damaged(name, f"{name} cannot be read ({reason})") from None

    def _damaged(self, name: str, problem: str) -> RunDamaged:
        """RunDamaged for the file ``name``, also noted in the run list."""
        self._note_damage(name, problem)
        return RunDamaged(self.run_id, problem, path=str(self.dir / name))

    def _index(self) -> RunIndex | None:
        """The index of the store this run is in (None for a folder outside a store's ``runs``)."""
        return RunIndex(self.dir.parent) if self.dir.parent.name == "runs" else None

    def _note_damage(self, name: str, problem: str) -> None:
        index = self._index()
        if index is not None:
            index.mark_damaged(self.dir, name, problem)

    def _read_state(self) -> dict[str, Any]:
        try:
            return load_state(self.dir)
        except RunDamaged as exc:
            self._note_damage("state.json", exc.problem)
            raise

    @property
    def backend(self) -> str:
        return str(self._read_state()["backend"])

    @property
    def status(self) -> RunStatus:
        """The run's status. It includes events appended but not yet recorded in ``state.json``,
        so whoever has seen a terminal event in the log also sees a terminal status."""
        data = self._read_state()
        status: RunStatus = data["status"]
        if status in TERMINAL_STATUSES:
            return status
        return self._unrecorded_status(data) or status

    def _unrecorded_status(self, data: dict[str, Any]) -> RunStatus | None:
        """The status implied by whole lines past the size ``state.json`` records (read only)."""
        recorded = int(data["events_size"])
        try:
            with open(self.events_path, "rb") as handle:
                if os.fstat(handle.fileno()).st_size <= recorded:
                    return None
                handle.seek(recorded)
                found: RunStatus | None = None
                for raw in handle:
                    if not raw.endswith(b"\n"):
                        break
                    try:
                        status = status_of(parse_event(raw))
                    except Exception:
                        break  # events() reports the damage
                    if status is not None:
                        found = status
                return found
        except OSError:
            return None

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
            data["updated_at"] = now()
            write_atomic(self.dir / "state.json", json.dumps(data, indent=2))

    # ---- events -------------------------------------------------------------------------------

    def emit(self, event: Event) -> Event | None:
        """Append ``event``, stamped with run id, next seq and time. Returns ``None`` when dropped:
        its ``source_id`` was seen before, or the run already ended."""
        with self._locked():
            data = self._read_state()
            before = data["status"]
            repaired = self._recover(data)
            if data["status"] in TERMINAL_STATUSES or (
                event.source_id is not None and event.source_id in data["source_ids"]
            ):
                if repaired:
                    self._save(data, before)
                return None
            if event.source_id is not None:
                data["source_ids"].append(event.source_id)
            stamped = self._append(data, event)
            extra = _overfitting_log(data, stamped)
            if extra is not None:
                self._append(data, extra)
            self._save(data, before)
            return stamped

    def _save(self, data: dict[str, Any], status_before: str) -> None:
        """Write ``state.json`` (the caller holds the lock); a new status also goes to the index."""
        data["updated_at"] = now()
        write_atomic(self.dir / "state.json", json.dumps(data, indent=2), durable=False)
        if data["status"] != status_before:
            index = self._index()
            if index is not None:
                index.record(self.dir)

    def _append(self, data: dict[str, Any], event: Event) -> Event:
        """Write ``event`` (stamped with the next seq) to the log and record it in ``data``.
        The caller holds the lock and saves ``data``."""
        seq = data["last_seq"] + 1
        stamped = event.model_copy(update={"run_id": self.run_id, "seq": seq})
        line = (stamped.to_json() + "\n").encode("utf-8")
        fd = os.open(self.events_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            start = os.fstat(fd).st_size
            try:
                # No fsync per event: a crashed process's writes survive in the page cache, and
                # _recover() repairs a log/state mismatch; fsync only guards against power loss.
                written = os.write(fd, line)
                if written != len(line):
                    raise OSError(errno.ENOSPC, "the event log was written only in part")
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, start)  # never leave half a line for the next append
                raise
            data["events_size"] = os.fstat(fd).st_size
        finally:
            os.close(fd)
        data["last_seq"] = seq
        new_status = status_of(stamped)
        if new_status is not None:
            data["status"] = new_status
        return stamped

    def _recover(self, data: dict[str, Any]) -> bool:
        """Bring the state up to date with the event log before the next seq is handed out.

        ``state.json`` records the log's size after each append. A larger log means a writer died
        between appending and saving state: those lines are read back (a torn last line is cut
        off). A smaller log, or one whose last line is torn (a full disk, a crash of the machine),
        is cut back to its last whole line and the state is recomputed from what remains.
        Updates ``data`` in place; True when anything was repaired.
        """
        recorded = int(data["events_size"])
        try:
            with open(self.events_path, "rb") as handle:
                actual = os.fstat(handle.fileno()).st_size
                torn = actual > 0 and os.pread(handle.fileno(), 1, actual - 1) != b"\n"
        except FileNotFoundError:
            actual, torn = 0, False
        if actual == recorded and not torn:
            return False
        if actual < recorded or actual == recorded:  # shorter, or as long but torn
            self._rescan(data)
            return True
        with open(self.events_path, "rb+") as handle:
            handle.seek(recorded)
            offset = recorded
            for raw in handle:
                if not raw.endswith(b"\n"):
                    handle.truncate(offset)
                    break
                offset += len(raw)
                try:
                    event = parse_event(raw)
                except Exception:
                    continue  # a garbage line: readers report it; it must not stop the writers
                self._note(data, event)
        data["events_size"] = offset
        return True

    def _rescan(self, data: dict[str, Any]) -> None:
        """Cut the log back to its last whole line and recompute seq, status and source ids."""
        try:
            with open(self.events_path, "rb+") as handle:
                content = handle.read()
                cut = content.rfind(b"\n") + 1
                if cut < len(content):
                    handle.truncate(cut)
        except FileNotFoundError:
            content, cut = b"", 0
            self.events_path.touch()
        data.update(last_seq=0, status="created", source_ids=[], events_size=cut)
        for raw in content[:cut].splitlines():
            try:
                event = parse_event(raw)
            except Exception:
                continue
            self._note(data, event)

    @staticmethod
    def _note(data: dict[str, Any], event: Event) -> None:
        """Count an event found in the log into the state."""
        data["last_seq"] = max(data["last_seq"], event.seq)
        if event.source_id is not None and event.source_id not in data["source_ids"]:
            data["source_ids"].append(event.source_id)
        status = status_of(event)
        if status is not None:
            data["status"] = status

    def log(self, message: str, level: str = "info") -> None:
        self.emit(Log(message=message, level=level))

    def events(self, after: int = 0, *, strict: bool = True) -> list[Event]:
        """Events with ``seq > after``, in order (only whole lines). A line that is not an event
        raises RunDamaged; with ``strict=False`` it is skipped."""
        return list(self.iter_events(after, strict=strict))

    def iter_events(self, after: int = 0, *, strict: bool = True) -> Iterator[Event]:
        try:
            with open(self.events_path, "rb") as handle:
                yield from self._parse(handle, after, strict)
        except FileNotFoundError:
            return

    def _parse(self, handle: BinaryIO, after: int, strict: bool) -> Iterator[Event]:
        for number, raw in enumerate(handle, start=1):
            if not raw.endswith(b"\n"):
                break  # a line still being written
            try:
                event = parse_event(raw)
            except Exception as exc:
                if not strict:
                    continue
                raise self._damaged_log(number, exc) from None
            if event.seq > after:
                yield event

    def _damaged_log(self, number: int, exc: Exception) -> RunDamaged:
        problem = f"events.jsonl line {number} is not an event ({short_reason(exc)})"
        self._note_damage("events.jsonl", problem)
        return RunDamaged(
            self.run_id,
            problem,
            path=f"{self.events_path}:{number}",
            fix=f"remove or repair line {number} (the other lines are intact), or delete the "
            f"run with `tunesdk rm {self.run_id}`",
        )

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
            write_atomic(self.dir / "state.json", json.dumps(data, indent=2))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def poll_lease(self, *, wait: bool = False) -> contextlib.AbstractContextManager[bool]:
        """Yields True in the one process allowed to poll the backend right now (non-blocking
        unless ``wait``: then it waits for the current poller to finish)."""
        return self.lease("poll", wait=wait)

    @contextlib.contextmanager
    def lease(self, name: str, *, wait: bool = False) -> Iterator[bool]:
        """The run's ``name`` lease (an ``flock`` on ``.<name>.lock``, released when its holder
        exits or dies): yields True to its one holder; without ``wait``, False at once to others."""
        fd = os.open(self.dir / f".{name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
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


__all__ = ["RunRecord"]
