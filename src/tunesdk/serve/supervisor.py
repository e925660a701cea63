"""`Supervisor`: the server's background followers, one thread per run that has not ended.

A run's events only grow while someone polls its backend (a provider's job, a local worker's exit).
The server polls every run it knows that has not ended — its own submissions, and on start every
unfinished run in the store it owns (so a restart loses nothing: the workers and provider jobs went
on without it). Clients reading events read the run store; they never poll a backend themselves.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from tunesdk.events import TERMINAL_STATUSES

if TYPE_CHECKING:
    from tunesdk.serve.context import ServeContext

log = logging.getLogger("tunesdk.serve")


class Supervisor:
    """Follows runs in daemon threads until they end or the server stops."""

    def __init__(self, ctx: ServeContext) -> None:
        self.ctx = ctx
        self._stopping = threading.Event()
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        """Follow again every unfinished run the server created."""
        self._stopping.clear()
        for status in ("created", "validating", "uploading", "queued", "running"):
            for summary in self.ctx.store.query(status=status).runs:
                if self.ctx.ownership.owner_of("run", summary.run_id) is not None:
                    self.watch(summary.run_id)

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        with self._lock:
            threads = list(self._threads.values())
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def watch(self, run_id: str) -> None:
        """Follow ``run_id`` until it ends (no-op when already followed)."""
        with self._lock:
            thread = self._threads.get(run_id)
            if thread is not None and thread.is_alive():
                return
            thread = threading.Thread(
                target=self._follow, args=(run_id,), name=f"tunesdk-serve-{run_id}", daemon=True
            )
            self._threads[run_id] = thread
        thread.start()

    def _follow(self, run_id: str) -> None:
        from tunesdk.follow import Follower
        from tunesdk.registry import restore_backend

        try:
            record = self.ctx.store.get(run_id)
            state = record.state
            backend = restore_backend(
                record.backend, state.get("backend_class"), state.get("backend_path")
            )
            follower = Follower(record, backend, follow=True)
            while not self._stopping.is_set():
                batch = follower.step()
                if batch.done or record.status in TERMINAL_STATUSES:
                    return
                if batch.pause:
                    self._stopping.wait(batch.pause)
        except Exception:  # one run's trouble must never take the server down
            log.exception("following run %s stopped", run_id)


__all__ = ["Supervisor"]
