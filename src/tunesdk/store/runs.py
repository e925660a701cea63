"""`RunStore`: every run under one home folder — create, look up by id or prefix, list, delete."""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from tunesdk.errors import AmbiguousRunId, RunDamaged, RunNotFound, RunStillRunning, TuneError
from tunesdk.events import TERMINAL_STATUSES
from tunesdk.store.files import check_home, home, now, write_atomic
from tunesdk.store.ids import is_id_prefix, is_run_id, new_run_id, shown
from tunesdk.store.index import Page, RunIndex
from tunesdk.store.records import RunRecord
from tunesdk.store.state import DAMAGED, RunSummary

if TYPE_CHECKING:
    from tunesdk.backend import Plan
    from tunesdk.job import Job


@dataclass
class Pruned:
    """What `RunStore.prune` deleted, and what it left because the run has not ended."""

    deleted: list[RunSummary] = field(default_factory=list)
    kept_running: list[RunSummary] = field(default_factory=list)


class RunStore:
    """All runs under one home folder (``$TUNESDK_HOME``, default ``~/.tunesdk``)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.home = Path(root).expanduser() if root is not None else home()
        check_home(self.home)
        self.runs_dir = self.home / "runs"
        self.index = RunIndex(self.runs_dir)

    # ---- creating and finding runs ------------------------------------------------------------

    def create(self, job: Job, plan: Plan, backend: str) -> RunRecord:
        """A new run folder holding the job, the plan and the initial state."""
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TuneError(
                f"cannot create the run store {self.runs_dir} ({exc.strerror or exc})",
                fix="point TUNESDK_HOME at a folder this user can write",
            ) from None
        while True:
            run_id = new_run_id(backend)
            folder = self.runs_dir / run_id
            try:
                folder.mkdir()
                break
            except FileExistsError:  # two runs in one second drew the same token
                continue
        (folder / "inputs").mkdir()
        (folder / "outputs").mkdir()
        job = _materialize_data(job, folder / "inputs")
        write_atomic(folder / "job.json", json.dumps(redacted_job(job), indent=2))
        write_atomic(folder / "plan.json", plan.model_dump_json(indent=2))
        stamp = now()
        state = {
            "run_id": run_id,
            "backend": backend,
            "status": "created",
            "created_at": stamp,
            "updated_at": stamp,
            "last_seq": 0,
            "source_ids": [],
            "events_size": 0,
            "backend_state": {},
        }
        write_atomic(folder / "state.json", json.dumps(state, indent=2))
        (folder / "events.jsonl").touch()
        self.index.record(folder)
        return RunRecord(folder, job=job)

    def get(self, run_id: str) -> RunRecord:
        """The run with this id, or the only run whose id starts with it.

        Raises RunNotFound for an unknown id or anything that is not an id (a path, a pattern),
        AmbiguousRunId (a RunNotFound) listing the matches when a prefix matches several runs.
        """
        if not is_id_prefix(run_id):
            raise RunNotFound(shown(run_id), str(self.runs_dir))
        if is_run_id(run_id) and self._is_run_folder(run_id):
            return RunRecord(self.runs_dir / run_id)
        if not self.runs_dir.is_dir():
            raise RunNotFound(run_id, str(self.runs_dir))
        matches = [m for m in self.index.with_prefix(run_id) if self._is_run_folder(m)]
        if not matches:
            raise RunNotFound(run_id, str(self.runs_dir))
        if len(matches) > 1:
            raise AmbiguousRunId(run_id, matches, str(self.runs_dir))
        return RunRecord(self.runs_dir / matches[0])

    def _is_run_folder(self, run_id: str) -> bool:
        """A real folder directly inside the store (a link pointing elsewhere is not a run)."""
        folder = self.runs_dir / run_id
        try:
            return (
                folder.is_dir()
                and not folder.is_symlink()
                and folder.resolve().parent == self.runs_dir.resolve()
            )
        except OSError:
            return False

    # ---- listing ------------------------------------------------------------------------------

    def query(
        self,
        *,
        status: str | None = None,
        backend: str | None = None,
        limit: int | None = None,
        newest_first: bool = True,
    ) -> Page:
        """Runs from the index, filtered by ``status`` (a run status or ``"damaged"``) and
        ``backend``, newest first; ``limit`` of them (``None``: all) and how many matched."""
        if not self.runs_dir.is_dir():
            return Page([], 0)
        return self.index.query(
            status=status, backend=backend, limit=limit, newest_first=newest_first
        )

    def reindex(self) -> None:
        """Rebuild the run index from every run folder. Listing keeps the index up to date by
        itself; this is for files edited by hand in runs that had already ended."""
        if self.runs_dir.is_dir():
            self.index.rebuild()

    def list(self, *, status: str | None = None, backend: str | None = None) -> list[RunRecord]:
        """Every run (damaged ones included), oldest first."""
        page = self.query(status=status, backend=backend, newest_first=False)
        return [RunRecord(summary.dir) for summary in page.runs]

    # ---- deleting -----------------------------------------------------------------------------

    def delete(self, run_id: str, *, force: bool = False) -> RunSummary:
        """Delete a run's folder (outputs included). A run that has not ended is refused with
        RunStillRunning unless ``force``; a damaged run can always be deleted."""
        record = self.get(run_id)
        with record._locked():  # no event lands while we decide
            summary = self._summary_of(record)
            if not force and summary.status not in TERMINAL_STATUSES and not summary.damaged:
                raise RunStillRunning(record.run_id, summary.status)
            trash = self.runs_dir / f".deleting-{record.run_id}-{secrets.token_hex(3)}"
            record.dir.rename(trash)  # readers see the whole run or none of it
        self.index.remove(record.run_id)
        shutil.rmtree(trash, ignore_errors=True)
        return summary

    def prune(
        self,
        older_than: timedelta,
        *,
        status: str | None = None,
        force: bool = False,
        dry_run: bool = False,
    ) -> Pruned:
        """Delete the runs created more than ``older_than`` ago (only those with ``status`` if
        given). Runs that have not ended are kept unless ``force``; ``dry_run`` deletes nothing."""
        cutoff = (datetime.now(UTC) - older_than).isoformat(timespec="milliseconds")
        result = Pruned()
        for summary in self.query(status=status, newest_first=False).runs:
            if summary.created_at >= cutoff:
                continue
            if not force and not summary.terminal and not summary.damaged:
                result.kept_running.append(summary)
                continue
            if not dry_run:
                try:
                    self.delete(summary.run_id, force=force)
                except RunStillRunning:  # it started again meanwhile (a resume)
                    result.kept_running.append(summary)
                    continue
                except RunNotFound:
                    continue  # someone else deleted it
            result.deleted.append(summary)
        return result

    def _summary_of(self, record: RunRecord) -> RunSummary:
        from tunesdk.store.state import summarize_folder

        summary = summarize_folder(record.dir)
        if summary.damaged:
            return summary
        with contextlib.suppress(RunDamaged):
            live = record.status  # includes events not yet recorded in state.json
            if live != summary.status:
                return RunSummary(
                    summary.run_id,
                    summary.backend,
                    live,
                    summary.created_at,
                    summary.updated_at,
                    None,
                    summary.runs_dir,
                )
        return summary


def redacted_job(job: Job) -> dict[str, Any]:
    """The job as given — only the fields set explicitly, so the job loaded back from it has
    the same user-set options (``Job.options_set``) for plans, warnings and strict mode — with
    secret-looking backend options replaced by ``***``. (The effective values of the rest are
    in the run's plan.)"""
    from tunesdk.secrets import redact

    data = _as_given(job, job.to_dict())
    if "backend_options" in data:
        data["backend_options"] = {
            backend: {key: redact(key, value) for key, value in options.items()}
            for backend, options in data["backend_options"].items()
        }
    if "launcher_options" in data:
        from tunesdk.secrets import redact_tree

        data["launcher_options"] = redact_tree(data["launcher_options"])
    return data


def _as_given(spec: BaseModel, dumped: dict[str, Any]) -> dict[str, Any]:
    """``dumped`` (``spec``'s JSON dump) cut to the fields set explicitly, nested specs alike;
    a tagged spec (a method) keeps its ``kind``."""
    given: dict[str, Any] = {}
    for name in type(spec).model_fields:
        if name in spec.model_fields_set or name == "kind":
            value = getattr(spec, name)
            nested = isinstance(value, BaseModel) and isinstance(dumped[name], dict)
            given[name] = _as_given(value, dumped[name]) if nested else dumped[name]
    return given


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


__all__ = ["DAMAGED", "Pruned", "RunStore", "redacted_job"]
