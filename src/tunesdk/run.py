"""Runs: submit, follow events, wait, cancel and reattach — sync and async.

Whoever follows a run (the submitting process or any other after ``Run.attach``) reads the run's
``events.jsonl`` and, holding the run's poll lease, asks the backend for news (a provider's status, a
dead worker). Events are appended once, in order, by the store; readers only read. The follow loop
(backoff, one warning per problem, deadlines) is `tunesdk.follow`, shared by the sync and async
methods, which take the same arguments.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from tunesdk.backend import check_capabilities, plan_checked, warn_dropped
from tunesdk.errors import BackendUnavailable, RunCancelled, RunDamaged, RunFailed, TuneError
from tunesdk.events import Completed, Event, Failed, RunStatus, summarize
from tunesdk.follow import Follower, poll_once
from tunesdk.local import LocalBackend
from tunesdk.models import ModelHandleField
from tunesdk.registry import backend_origin, get_backend, origin_path, restore_backend
from tunesdk.store import RunRecord, RunStore, redacted_job
from tunesdk.worker import last_checkpoint

if TYPE_CHECKING:
    from tunesdk.backend import Backend, Plan
    from tunesdk.job import Job


class Result(BaseModel):
    """The outcome of a finished run."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    backend: str
    status: RunStatus
    model: ModelHandleField | None = None
    metrics: dict[str, float] = {}
    run_dir: Path
    events_path: Path
    error: str | None = None

    def events(self) -> list[Event]:
        """Every event of the run, from its event log."""
        return RunRecord(self.run_dir).events()

    def plot_loss(self, path: str | Path = "loss.png", *, title: str | None = None) -> Path:
        """Save train/eval loss against step as a PNG, overfitting marked (needs matplotlib)."""
        from tunesdk.evaluation.plot import plot_loss

        return plot_loss(self.events(), path, title=title or f"{self.run_id} ({self.backend})")


def plan_job(job: Job, backend_name: str) -> Plan:
    """The backend's plan for ``job`` (capabilities checked by the core, strict mode enforced by
    the plan builder)."""
    return plan_checked(get_backend(backend_name), job)


class Run:
    """A live or finished run. Create with ``job.submit(...)`` or ``Run.attach(run_id)``."""

    def __init__(self, record: RunRecord, backend: Backend) -> None:
        self.record = record
        self.backend = backend

    # ---- creation -------------------------------------------------------------------------------

    @classmethod
    def submit(cls, job: Job, backend_name: str, *, resume: bool | str = False) -> Run:
        """Check, plan and preflight the job (raising before anything is spent), then launch it."""
        from tunesdk.paths import resolve_job_paths

        job = resolve_job_paths(job)  # the run stores absolute paths: valid from any folder
        backend = get_backend(backend_name)
        resumed_note = None
        # a provider's checkpoints live there, and it starts a new job from one; a managed
        # backend whose loop runs in tunesdk's worker (tinker) restores its state from
        # ``resume_from`` itself, like a local engine
        if resume and backend.kind == "managed" and not isinstance(backend, LocalBackend):
            from tunesdk.provider_resume import resume_on_provider

            candidates = _resume_candidates(job, backend_name, resume)
            job, resumed_note = resume_on_provider(job, backend, candidates, resume)
            resume = False
        # a method or objective the backend lacks is one JobError, here as in plan(), before the
        # machine checks (which would report it as "unavailable")
        check_capabilities(backend, job)
        check = backend.check_job(job)
        if not check.usable:
            raise BackendUnavailable(backend_name, check.reason or "not usable here", fix=check.fix)
        from tunesdk.launchers.base import apply_launcher

        plan = apply_launcher(job, backend.plan(job), local_backend=backend.kind == "local")
        launcher = _launcher_of(job, backend, resume)
        backend.preflight(job, plan)
        if launcher is not None:
            launcher.preflight(job, plan, backend)
        origin = backend_origin(backend_name)
        if origin is not None and origin.startswith("__main__:") and backend.kind == "local":
            raise TuneError(
                f"backend {backend_name!r} is defined in the script being run, so the worker "
                "process that trains cannot import it",
                fix="move the backend class into a module, or install it as a package with a "
                "tunesdk.backends entry point",
            )
        checkpoint = _resume_checkpoint(job, backend_name, resume) if resume else None
        record = RunStore().create(job, plan, backend_name)
        if origin is not None:
            record.update_state(backend_class=origin, backend_path=origin_path(origin))
        if checkpoint:
            record.update_state(resume_from=checkpoint)
            record.log(f"resuming from checkpoint {checkpoint}")
        if resumed_note:
            record.log(resumed_note)
        from tunesdk.backend import take_data_warnings

        for message in take_data_warnings(job):  # duplicates, train/eval overlap
            record.log(message, level="warning")
        warn_dropped(plan, record.log)
        try:
            backend.launch(record)
        except BaseException as exc:
            record.emit(Failed(error=_reason(exc), error_type=type(exc).__name__))
            raise
        return cls(record, backend)

    @classmethod
    def attach(cls, run_id: str, *, home: str | Path | None = None) -> Run:
        """Follow an existing run, e.g. from another process after the submitter died."""
        record = RunStore(home).get(run_id)
        state = record.state
        backend = restore_backend(
            record.backend, state.get("backend_class"), state.get("backend_path")
        )
        return cls(record, backend)

    # ---- state ----------------------------------------------------------------------------------

    @property
    def run_id(self) -> str:
        """The run's id (its folder name in the run store)."""
        return self.record.run_id

    @property
    def status(self) -> RunStatus:
        """The run's current status, from the run store."""
        return self.record.status

    @property
    def done(self) -> bool:
        """True once the run has ended (completed, failed or cancelled)."""
        return self.record.terminal

    def refresh(self) -> list[Event]:
        """Ask the backend for news once (if no other process is doing so right now).

        A failure that can heal (a dropped connection, a 429, a 5xx) is logged once as a warning
        and ``[]`` returned; one that cannot (no API key, a refused key or request) is raised.
        """
        return poll_once(self.record, self.backend)[0]

    # ---- events ---------------------------------------------------------------------------------

    def events(
        self, *, after: int = 0, follow: bool = True, timeout: float | None = None
    ) -> Iterator[Event]:
        """Events with ``seq > after``, live until the run ends (``follow=False``: what is there).

        ``timeout``: raise TimeoutError when the run has not ended after this many seconds, even if
        it stays silent meanwhile or its provider is unreachable.
        """
        follower = Follower(self.record, self.backend, after=after, follow=follow, timeout=timeout)
        while True:
            batch = follower.step()
            yield from batch.events
            if batch.done:
                return
            if batch.pause:
                time.sleep(batch.pause)

    async def aevents(
        self, *, after: int = 0, follow: bool = True, timeout: float | None = None
    ) -> AsyncIterator[Event]:
        """Async twin of `events` (same arguments); waiting costs no CPU and blocks no event loop."""
        follower = Follower(self.record, self.backend, after=after, follow=follow, timeout=timeout)
        while True:
            batch = await asyncio.to_thread(follower.step)
            for event in batch.events:
                yield event
            if batch.done:
                return
            if batch.pause:
                await asyncio.sleep(batch.pause)

    # ---- outcome --------------------------------------------------------------------------------

    def wait(
        self, timeout: float | None = None, on_event: Callable[[Event], None] | None = None
    ) -> Result:
        """Block until the run ends; return its Result, or raise RunFailed / RunCancelled."""
        for event in self.events(timeout=timeout):
            if on_event is not None:
                on_event(event)
        return self.result()

    async def await_result(
        self, timeout: float | None = None, on_event: Callable[[Event], None] | None = None
    ) -> Result:
        """Async twin of `wait` (same arguments)."""
        async for event in self.aevents(timeout=timeout):
            if on_event is not None:
                on_event(event)
        return self.result()

    def result(self) -> Result:
        """The Result of a finished run (RunFailed / RunCancelled when it did not complete)."""
        events = self.record.events()
        final = next((e for e in reversed(events) if e.terminal), None)
        if final is None and self.record.terminal:
            raise RunDamaged(
                self.run_id,
                f"its state says {self.status}, but its event log has no final event",
                path=str(self.record.events_path),
                fix=f"`tunesdk logs {self.run_id}` shows what was recorded; the outcome itself "
                "is with the backend (for a provider run, its console)",
            )
        if final is None:
            raise TuneError(f"run {self.run_id} is still {self.status}", fix="call run.wait()")
        if isinstance(final, Failed):
            raise RunFailed(self.run_id, final.error, fix=_failure_fix(final))
        if not isinstance(final, Completed):
            raise RunCancelled(self.run_id)
        return Result(
            run_id=self.run_id,
            backend=self.record.backend,
            status="completed",
            model=final.model,
            metrics=final.metrics or summarize(events),
            run_dir=self.record.dir,
            events_path=self.record.events_path,
        )

    def cancel(self, *, wait: bool = True, timeout: float | None = None) -> None:
        """Cancel the run; with ``wait`` block until it ends (killing a local worker that overruns)."""
        if self.record.terminal:
            return
        self.backend.cancel(self.record)
        if not wait:
            return
        grace = timeout if timeout is not None else getattr(self.backend, "cancel_grace_s", 600.0)
        try:
            for event in self.events(timeout=grace):
                if event.terminal:
                    return
        except TimeoutError:
            pass  # a local worker that overran its grace is killed below
        if self.record.terminal:
            return
        if isinstance(self.backend, LocalBackend) and not self.record.terminal:
            self.backend.kill(self.record)
            from tunesdk.events import Cancelled

            self.record.emit(Cancelled(checkpoint=last_checkpoint(self.record)))

    async def acancel(self, *, wait: bool = True, timeout: float | None = None) -> None:
        """Async twin of `cancel` (same arguments)."""
        await asyncio.to_thread(self.cancel, wait=wait, timeout=timeout)

    def pause(self) -> None:
        """Ask the provider to pause the run's job (backends whose ``capabilities.pause`` is
        set: openai). The run stays live, its status back to ``queued`` with provider status
        ``paused``, until `unpause`; TuneError naming the backend where it cannot pause."""
        self._pausable("pause")
        self.backend.pause(self.record)
        self.record.log(f"asked {self.record.backend} to pause the job (run.pause())")
        # the StatusChanged to paused, when it is already (waiting out another poller, e.g. a
        # server's, whose poll may have read the job just before it paused)
        poll_once(self.record, self.backend, wait=True)

    def unpause(self) -> None:
        """Ask the provider to go on with the paused job in place: the same run, from the step
        it paused at (`resume=` of `submit` starts a new job from a checkpoint instead)."""
        self._pausable("unpause")
        if not self.backend.unpause(self.record):
            raise TuneError(f"backend {self.record.backend!r} did not go on with run {self.run_id}")
        self.record.log(f"asked {self.record.backend} to go on with the paused job (run.unpause())")
        poll_once(self.record, self.backend, wait=True)

    async def apause(self) -> None:
        """Async twin of `pause`."""
        await asyncio.to_thread(self.pause)

    async def aunpause(self) -> None:
        """Async twin of `unpause`."""
        await asyncio.to_thread(self.unpause)

    def _pausable(self, action: str) -> None:
        """TuneError unless this run's backend pauses and its provider job exists and is live."""
        name = self.record.backend
        if not self.backend.capabilities.pause:
            raise TuneError(
                f"backend {name!r} cannot {action} a run: it has no pause (capabilities.pause)",
                where=f"run {self.run_id}",
                fix=f"cancel it instead (`tunesdk cancel {self.run_id}`); openai pauses jobs",
            )
        if self.record.terminal:
            raise TuneError(
                f"run {self.run_id} has already ended ({self.status}); there is nothing to {action}",
                fix=f"`tunesdk resume {self.run_id}` starts a new job from its last checkpoint",
            )
        if self.backend.kind == "managed" and not self.record.state.get("remote_job_id"):
            raise TuneError(
                f"run {self.run_id} has no {name} job yet (it is still {self.status})",
                fix=f"{action} it once it is queued (`tunesdk status {self.run_id}`)",
            )

    def __repr__(self) -> str:
        return f"<Run {self.run_id} {self.status}>"


def run_job(
    job: Job,
    backend: str,
    *,
    on_event: Callable[[Event], None] | None = None,
    progress: bool | None = None,
    resume: bool | str = False,
) -> Result:
    """Submit, follow and return the Result: a progress bar on a terminal, else progress lines
    through the ``tunesdk`` logger (INFO; warnings and failures at their own level)."""
    run = Run.submit(job, backend, resume=resume)
    try:
        with _reporting(run, progress, on_event) as report:
            return run.wait(on_event=report)
    except KeyboardInterrupt:
        run.cancel()
        raise


async def arun_job(
    job: Job,
    backend: str,
    *,
    on_event: Callable[[Event], None] | None = None,
    progress: bool | None = None,
    resume: bool | str = False,
) -> Result:
    """Async twin of `run_job`: submit in a thread, follow without blocking the event loop."""
    submitting = asyncio.ensure_future(asyncio.to_thread(Run.submit, job, backend, resume=resume))
    try:
        run = await asyncio.shield(submitting)
    except asyncio.CancelledError:
        # the launch goes on in its thread: let it finish, then stop what it started
        started = await submitting
        await started.acancel(wait=False)
        raise
    try:
        with _reporting(run, progress, on_event) as report:
            return await run.await_result(on_event=report)
    except (KeyboardInterrupt, asyncio.CancelledError):
        # ask the backend to stop, without holding a cancelled task for the cancel grace period
        await asyncio.shield(run.acancel(wait=False))
        raise


@contextlib.contextmanager
def _reporting(
    run: Run, progress: bool | None, on_event: Callable[[Event], None] | None
) -> Iterator[Callable[[Event], None]]:
    """The callback `run_job`/`arun_job` follow with: a progress bar on a terminal (or with
    ``progress=True``), else progress lines through the ``tunesdk`` logger; then ``on_event``."""
    show = progress if progress is not None else _stderr_is_terminal()
    if show:
        from tunesdk.progress import ProgressDisplay

        with ProgressDisplay(run.run_id) as display:
            yield _both(display.update, on_event)
        return
    from tunesdk.progress import log_lines

    yield _both(log_lines(run.run_id).update, on_event)


def _both(
    first: Callable[[Event], None], second: Callable[[Event], None] | None
) -> Callable[[Event], None]:
    def call(event: Event) -> None:
        first(event)
        if second is not None:
            second(event)

    return call


def _stderr_is_terminal() -> bool:
    import sys

    return sys.stderr.isatty()


def _launcher_of(job: Job, backend: Backend, resume: bool | str = False) -> Any:
    """The job's launcher for a local backend (LauncherUnavailable when it cannot run here;
    JobError when a launcher option is a redacted ``***``); None for a managed backend, which
    `apply_launcher` already checked."""
    if not isinstance(backend, LocalBackend):
        return None
    from tunesdk.launchers import LauncherUnavailable, get_launcher
    from tunesdk.launchers.base import require_secrets

    require_secrets(job, resume=resume)

    launcher = get_launcher(job.resources.launcher)
    check = launcher.check_job(job)
    if not check.usable:
        raise LauncherUnavailable(launcher.name, check.reason or "not usable here", fix=check.fix)
    return launcher


def _reason(exc: BaseException) -> str:
    from tunesdk.worker import one_line

    return one_line(exc)


def _failure_fix(event: Failed) -> str | None:
    return f"details: {event.details_path}" if event.details_path else None


def _resume_checkpoint(job: Job, backend: str, resume: bool | str) -> str:
    """The checkpoint to resume from: of run ``resume``, or of the latest run of the same job."""
    for record in _resume_candidates(job, backend, resume):
        checkpoint = last_checkpoint(record)
        # a service's checkpoint (tinker://...) lives there, not on this disk
        if checkpoint and ("://" in checkpoint or Path(checkpoint).exists()):
            return checkpoint
    raise TuneError(
        "found no checkpoint to resume from",
        where=f"resume={resume!r}",
        fix="resume a run that saved checkpoints (see `tunesdk runs`), or run without resume",
    )


def _resume_candidates(job: Job, backend: str, resume: bool | str) -> list[RunRecord]:
    """The runs ``resume`` names: the one with that id, or this job's runs on ``backend``,
    newest first."""
    store = RunStore()
    if isinstance(resume, str):
        return [store.get(resume)]
    try:
        fingerprint = _fingerprint(job)
    except TuneError as exc:
        raise TuneError(
            "resume=True matches runs by their job, and this job's data is in memory",
            where="resume",
            fix="pass the run id to resume: resume='RUN_ID' (see `tunesdk runs`)",
        ) from exc
    return [  # damaged runs (no readable job.json) are passed over
        r for r in reversed(store.list(backend=backend)) if _stored_fingerprint(r) == fingerprint
    ]


def _fingerprint(job: Job) -> Any:
    """The job as a run folder stores it (secrets redacted), minus its name."""
    return _effective(redacted_job(job))


def _stored_fingerprint(record: RunRecord) -> Any:
    try:
        data = json.loads((record.dir / "job.json").read_text("utf-8"))
        return _effective(data)
    except (OSError, ValueError, TypeError, TuneError):  # damaged: passed over
        return None


def _effective(stored: dict[str, Any]) -> dict[str, Any]:
    """Every value of a stored job, defaults included, minus its name: the same for a job.json
    holding only the options given and one (written by earlier versions) holding every field."""
    from tunesdk.job import Job

    data = Job.parse(stored, where="job.json").to_dict()
    data.pop("name", None)
    return data


__all__ = ["Result", "Run", "arun_job", "plan_job", "run_job"]
