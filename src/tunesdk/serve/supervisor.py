"""`Supervisor`: the server's one poller, a daemon thread per run that has not ended.

A run's events only grow while someone polls its backend (a provider's job, a local worker's exit).
The server polls every run it knows that has not ended — its own submissions, and on start every
unfinished run in the store it created (so a restart loses nothing: the workers and provider jobs
went on without it). Clients reading events read the run store (`tunesdk.serve.sse`); they never
poll a backend themselves, so a hundred watchers cost the provider nothing extra.

Guarantees:

- **one poll at a time per run**, also against other processes following the same run (a client's
  own ``Run.events()``, ``tunesdk logs -f``): every poll goes through `tunesdk.follow.poll_once`,
  which holds the run's poll lease (an ``flock``), and the store drops events it already holds;
- **one run's trouble stays its own**: a failed poll backs off (up to four times the backend's
  longest interval); an error that cannot heal by waiting (a refused provider key) is logged once
  into the run as a warning and retried at `STUCK_RETRY_S`; a bug is logged and retried likewise;
- **cancels finish**: a local worker that overruns its backend's ``cancel_grace_s`` after a
  cancel is killed and the run recorded cancelled, as ``Run.cancel()`` does;
- **prompt shutdown**: threads sleep on one `threading.Event`, so `stop` returns within a poll.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import TYPE_CHECKING

from tunesdk.errors import RunNotFound, TuneError

if TYPE_CHECKING:
    from tunesdk.backend import Backend
    from tunesdk.serve.context import ServeContext
    from tunesdk.store import RunRecord

log = logging.getLogger("tunesdk.serve")

#: seconds between tries while a run's polls fail in a way waiting alone does not heal
STUCK_RETRY_S = 30.0
#: backend-state key: digest of the supervisor problem last logged into the run
PROBLEM_KEY = "serve_problem"


class Supervisor:
    """Follows runs in daemon threads until they end or the server stops."""

    def __init__(self, ctx: ServeContext) -> None:
        self.ctx = ctx
        self._stopping = threading.Event()
        self._threads: dict[str, threading.Thread] = {}
        #: run id -> monotonic deadline by which a cancelled local worker must have stopped
        self._cancel_deadlines: dict[str, float] = {}
        #: run id -> digest of the problem last logged for it
        self._problems: dict[str, str] = {}
        self._lock = threading.Lock()

    # ---- lifecycle ----------------------------------------------------------------------------

    def start(self) -> list[str]:
        """Follow again every unfinished run the server created; returns their ids."""
        self._stopping.clear()
        resumed = []
        for summary in self.ctx.store.query().runs:
            if summary.terminal or summary.damaged:
                continue
            if self.ctx.ownership.owner_of("run", summary.run_id) is not None:
                self.watch(summary.run_id)
                resumed.append(summary.run_id)
        if resumed:
            log.info("following %d unfinished run(s) again", len(resumed))
        return resumed

    def stop(self, timeout: float = 5.0) -> None:
        """Stop following (the runs go on: workers and provider jobs do not need the server)."""
        self._stopping.set()
        with self._lock:
            threads = list(self._threads.values())
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def following(self) -> list[str]:
        """Ids of the runs being followed right now."""
        with self._lock:
            return sorted(rid for rid, thread in self._threads.items() if thread.is_alive())

    def watch(self, run_id: str) -> None:
        """Follow ``run_id`` until it ends (no-op when already followed or stopping)."""
        if self._stopping.is_set():
            return
        with self._lock:
            thread = self._threads.get(run_id)
            if thread is not None and thread.is_alive():
                return
            thread = threading.Thread(
                target=self._follow, args=(run_id,), name=f"tunesdk-serve-{run_id}", daemon=True
            )
            self._threads[run_id] = thread
        thread.start()

    def cancel(self, run_id: str) -> None:
        """Ask ``run_id``'s backend to stop it and keep following until it has; a local worker
        still running ``cancel_grace_s`` later is killed."""
        from tunesdk.local import LocalBackend

        record = self.ctx.store.get(run_id)
        if record.terminal:
            return
        backend = _backend_of(record)
        backend.cancel(record)
        if isinstance(backend, LocalBackend):
            grace = float(getattr(backend, "cancel_grace_s", 60.0))
            with self._lock:
                self._cancel_deadlines[run_id] = time.monotonic() + grace
        self.watch(run_id)

    # ---- one run ------------------------------------------------------------------------------

    def _follow(self, run_id: str) -> None:
        try:
            self._follow_until_ended(run_id)
        finally:  # forget the run (a later watch starts afresh), unless a new follower took over
            with self._lock:
                if self._threads.get(run_id) is threading.current_thread():
                    del self._threads[run_id]
                    self._cancel_deadlines.pop(run_id, None)

    def _follow_until_ended(self, run_id: str) -> None:
        from tunesdk.follow import FAILING_FACTOR, poll_interval, poll_once

        try:
            record = self.ctx.store.get(run_id)
        except RunNotFound:
            return
        try:
            backend = _backend_of(record)
        except Exception as exc:  # a backend no longer installed, a damaged run: note it once
            self._note(record, run_id, exc)
            return
        first, longest = poll_interval(backend)
        delay = first
        while not self._stopping.is_set():
            try:
                if record.terminal:
                    return
                self._enforce_cancel(record, backend)
                found, ok = poll_once(record, backend)
                if found:
                    delay = first
                elif ok:
                    delay = min(longest, delay * 1.5)
                else:  # a failure that heals by waiting: poll_once logged it once
                    delay = min(longest * FAILING_FACTOR, delay * 2.0)
                if ok and self._problems.pop(run_id, None) is not None:
                    record.update_state(**{PROBLEM_KEY: None})
            except RunNotFound:
                return  # deleted (tunesdk rm --force)
            except Exception as exc:
                self._note(record, run_id, exc)
                delay = STUCK_RETRY_S
            self._stopping.wait(delay)

    def _enforce_cancel(self, record: RunRecord, backend: Backend) -> None:
        with self._lock:
            deadline = self._cancel_deadlines.get(record.run_id)
        if deadline is None or time.monotonic() < deadline:
            return
        from tunesdk.events import Cancelled
        from tunesdk.local import LocalBackend
        from tunesdk.worker import last_checkpoint

        with self._lock:
            self._cancel_deadlines.pop(record.run_id, None)
        if isinstance(backend, LocalBackend) and not record.terminal:
            log.warning("run %s overran its cancel grace period: killing its worker", record.run_id)
            backend.kill(record)
            record.emit(Cancelled(checkpoint=last_checkpoint(record)))

    def _note(self, record: RunRecord | None, run_id: str, exc: Exception) -> None:
        """Log a problem following ``run_id`` once per distinct problem: to the server log (a
        bug with its traceback) and into the run as a warning (its watchers see why nothing
        moves). Repeats of the same problem go to the server log at debug level only."""
        if isinstance(exc, TuneError):
            text = f"the server cannot follow this run: {exc.message}"
            if exc.fix:
                text += f" (fix: {exc.fix})"
        else:
            # only the type: a foreign exception's text may quote anything (a URL, a header)
            text = f"the server cannot follow this run: internal error {type(exc).__name__}"
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        with self._lock:
            repeated = self._problems.get(run_id) == digest
            self._problems[run_id] = digest
        if repeated:
            log.debug("following run %s: still %s", run_id, text)
            return
        if isinstance(exc, TuneError):
            log.warning("following run %s: %s (retrying)", run_id, exc.message)
        else:
            log.error("following run %s failed (retrying)", run_id, exc_info=exc)
        if record is None:
            return
        try:
            if record.state.get(PROBLEM_KEY) == digest:
                return  # noted by an earlier server process
            record.update_state(**{PROBLEM_KEY: digest})
            record.log(f"{text}; retrying every {STUCK_RETRY_S:g} s", level="warning")
        except Exception:  # the run's own files are the trouble: the server log has it
            pass


def _backend_of(record: RunRecord) -> Backend:
    from tunesdk.registry import restore_backend

    state = record.state
    return restore_backend(record.backend, state.get("backend_class"), state.get("backend_path"))


__all__ = ["STUCK_RETRY_S", "Supervisor"]
