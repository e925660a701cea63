"""The one follow loop behind `Run.events` and `Run.aevents`, and the single poll both make.

A follower reads the run's event log; when nothing new is there it asks the backend for news
(holding the run's poll lease) and then waits before the next look, longer each quiet or failed
round. The loop is written once, as `Follower.step` (blocking file and network I/O, no sleeping):
the sync loop runs steps and sleeps with `time.sleep`, the async loop runs each step in a thread
and sleeps with `asyncio.sleep`.

Guarantees, for every follower:

- **bounded work while a backend is unreachable**: a failed poll doubles the wait (up to four
  times the backend's longest poll interval), and the follower's own warnings never count as news;
- **bounded log growth**: a poll failure that can heal (a dropped connection, a 429, a 5xx) is
  logged once per distinct problem until a poll succeeds again;
- **typed errors for what cannot heal**: no API key, a refused key, a refused request reach the
  caller as the error itself (`AuthError`, `InvalidRequest`, ...), the run left as it is;
- **an end**: a run whose state says it ended stops the loop even when its log holds no terminal
  event, and a ``timeout`` raises `TimeoutError` on time, also while a poll is retrying.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tunesdk.errors import ProviderError, TuneError
from tunesdk.managed import deadline

if TYPE_CHECKING:
    from tunesdk.backend import Backend
    from tunesdk.events import Event
    from tunesdk.store import RunRecord

#: while polls fail, the wait between them grows to this many times the longest poll interval
FAILING_FACTOR = 4.0
#: backend-state key holding the digest of the poll problem last logged (cleared by a good poll)
PROBLEM_KEY = "poll_problem"


def poll_interval(backend: Backend) -> tuple[float, float]:
    """(first, longest) seconds between polls: ``$TUNESDK_POLL_INTERVAL`` or the backend's own."""
    override = os.environ.get("TUNESDK_POLL_INTERVAL")
    if override:
        value = float(override)
        return value, max(value, value * 4)
    return backend.poll_interval


def heals(exc: TuneError) -> bool:
    """True when the same poll may succeed later without anyone doing anything."""
    return isinstance(exc, ProviderError) and exc.transient


def poll_once(
    record: RunRecord, backend: Backend, *, wait: bool = False
) -> tuple[list[Event], bool]:
    """Ask ``backend`` for news once, if this process holds the poll lease (``wait``: wait for
    another poller to finish rather than skip, when news on our own request must show at once).

    Returns the events appended and whether the poll went through (True also when another
    process holds the lease or the run ended). A failure that can heal is logged once per
    distinct problem; any other error is raised as it is.
    """
    if record.terminal:
        return [], True
    with record.poll_lease(wait=wait) as mine:
        if not mine:
            return [], True
        try:
            found = backend.poll(record)
        except TuneError as exc:
            if not heals(exc):
                raise
            _note_problem(record, exc)
            return [], False
        if record.state.get(PROBLEM_KEY):
            record.update_state(**{PROBLEM_KEY: None})
        return [e for e in (record.emit(event) for event in found) if e is not None], True


def _note_problem(record: RunRecord, exc: TuneError) -> None:
    status = getattr(exc, "status", None)
    code = getattr(exc, "code", None)
    text = f"{type(exc).__name__}|{status}|{code}|{exc.message}"
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    if record.state.get(PROBLEM_KEY) == digest:
        return
    record.update_state(**{PROBLEM_KEY: digest})
    record.log(f"poll failed: {exc.message} (retrying with backoff)", level="warning")


@dataclass
class Batch:
    """What one step found: events to deliver, whether the loop is over, how long to wait."""

    events: list[Event]
    done: bool
    pause: float = 0.0


@dataclass
class Follower:
    """The state of one follow loop over ``record``; see the module docstring."""

    record: RunRecord
    backend: Backend
    after: int = 0
    follow: bool = True
    timeout: float | None = None
    first: float = field(init=False)
    longest: float = field(init=False)
    delay: float = field(init=False)
    deadline: float | None = field(init=False)

    def __post_init__(self) -> None:
        self.first, self.longest = poll_interval(self.backend)
        self.delay = self.first
        self.deadline = None if self.timeout is None else time.monotonic() + self.timeout

    def step(self) -> Batch:
        """Read the log; when it holds nothing new, poll once and read again."""
        fresh = self._read()
        if fresh or not self.follow:
            return self._deliver(fresh)
        if self.record.terminal:
            # the state says the run ended: a terminal event appended since our read is read now;
            # a log without one (damaged, or cut short) ends the loop all the same
            return Batch(self._read(), done=True)
        self._check_deadline()
        with deadline(self.deadline):
            _, ok = poll_once(self.record, self.backend)
        fresh = self._read()
        if ok and fresh:
            return self._deliver(fresh)
        # quiet: wait a little longer each time; failed: back off faster, and the warning the
        # failure may have logged is no news from the backend
        if ok:
            self.delay = min(self.longest, self.delay * 1.5)
        else:
            self.delay = min(self.longest * FAILING_FACTOR, self.delay * 2.0)
        pause = self.delay
        if self.deadline is not None:
            pause = min(pause, self.deadline - time.monotonic())
        done = any(e.terminal for e in fresh)
        return Batch(fresh, done=done, pause=0.0 if done else max(pause, 0.0))

    def _read(self) -> list[Event]:
        fresh = self.record.events(after=self.after)
        if fresh:
            self.after = fresh[-1].seq
        return fresh

    def _deliver(self, fresh: list[Event]) -> Batch:
        self.delay = self.first
        return Batch(fresh, done=not self.follow or any(e.terminal for e in fresh))

    def _check_deadline(self) -> None:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise TimeoutError(
                f"run {self.record.run_id} still {self.record.status} after {self.timeout} s"
            )


__all__ = ["Batch", "Follower", "heals", "poll_interval", "poll_once"]
