"""The clock behind every emulated job: `SimulatedTraining` (a deterministic training curve),
`PhaseTimeline` (the provider's named phases before and after it, and a cancel), and
`PlannedFailures` (``fail_next_job``). Everything is computed from the clock on each request, so a
paused test or a slow machine never loses an event.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal


@dataclass
class SimulatedTraining:
    """A deterministic training curve driven by the wall clock.

    ``queue_s`` seconds queued, then ``total_steps`` steps of ``seconds_per_step`` each. Losses decay
    smoothly with seeded noise, so two emulated jobs with the same seed report the same numbers.
    """

    total_steps: int
    seconds_per_step: float = 0.05
    queue_s: float = 0.0
    fail_at_step: int | None = None
    seed: int = 0
    initial_loss: float = 2.4
    final_loss: float = 0.6
    started_at: float = field(default_factory=time.monotonic)

    def elapsed(self, now: float | None = None) -> float:
        return (time.monotonic() if now is None else now) - self.started_at

    def step_at(self, now: float | None = None) -> int:
        """Completed steps at ``now`` (capped at total_steps, or at fail_at_step)."""
        running_for = self.elapsed(now) - self.queue_s
        if running_for < 0:
            return 0
        steps = int(running_for / self.seconds_per_step) if self.seconds_per_step > 0 else 10**9
        cap = (
            self.total_steps
            if self.fail_at_step is None
            else min(self.fail_at_step, self.total_steps)
        )
        return min(steps, cap)

    def phase(
        self, now: float | None = None
    ) -> Literal["queued", "running", "failed", "completed"]:
        if self.elapsed(now) < self.queue_s:
            return "queued"
        step = self.step_at(now)
        if self.fail_at_step is not None and step >= self.fail_at_step:
            return "failed"
        return "completed" if step >= self.total_steps else "running"

    def loss(self, step: int) -> float:
        progress = step / max(self.total_steps, 1)
        smooth = self.final_loss + (self.initial_loss - self.final_loss) * math.exp(-3.0 * progress)
        return round(smooth * (1.0 + 0.04 * self._noise(step)), 4)

    def eval_loss(self, step: int) -> float:
        return round(self.loss(step) * 1.08 + 0.02, 4)

    def learning_rate(self, step: int, peak: float, warmup_ratio: float = 0.05) -> float:
        warmup = max(1, int(self.total_steps * warmup_ratio))
        if step < warmup:
            return peak * (step + 1) / warmup
        return peak * max(0.0, (self.total_steps - step) / max(1, self.total_steps - warmup))

    def _noise(self, step: int) -> float:
        digest = hashlib.blake2b(f"{self.seed}:{step}".encode(), digest_size=4).digest()
        return int.from_bytes(digest, "big") / 2**32 * 2 - 1


@dataclass
class PhaseTimeline:
    """A job's life on the clock, in the provider's own words.

    ``before`` names the phases (with their seconds) a job waits through before training, ``after``
    those between the last step and ``completed``. A cancel freezes training at that moment, shows
    ``cancelling`` for its seconds, then ``cancelled``. Build one with `PhaseTimeline.start`, which
    sizes the training's queue to the ``before`` phases.
    """

    training: SimulatedTraining
    before: tuple[tuple[str, float], ...]
    after: tuple[tuple[str, float], ...] = ()
    running: str = "running"
    failed: str = "failed"
    completed: str = "completed"
    cancelling: tuple[str, float] | None = None
    cancelled: str = "cancelled"
    cancel_at: float | None = None

    @classmethod
    def start(
        cls,
        *,
        total_steps: int,
        seconds_per_step: float,
        before: Sequence[tuple[str, float]],
        after: Sequence[tuple[str, float]] = (),
        fail_at_step: int | None = None,
        seed: int = 0,
        initial_loss: float = 2.4,
        final_loss: float = 0.6,
        started_at: float | None = None,
        **names: str | tuple[str, float] | None,
    ) -> PhaseTimeline:
        """A timeline starting at ``started_at`` (default: now); ``names`` set the phase names."""
        training = SimulatedTraining(
            total_steps=total_steps,
            seconds_per_step=seconds_per_step,
            queue_s=sum(seconds for _, seconds in before),
            fail_at_step=fail_at_step,
            seed=seed,
            initial_loss=initial_loss,
            final_loss=final_loss,
            started_at=time.monotonic() if started_at is None else started_at,
        )
        return cls(training, tuple(before), tuple(after), **names)  # type: ignore[arg-type]

    @property
    def started_at(self) -> float:
        return self.training.started_at

    @property
    def terminal(self) -> frozenset[str]:
        return frozenset({self.failed, self.completed, self.cancelled})

    def training_start(self) -> float:
        return self.started_at + self.training.queue_s

    def training_end(self) -> float:
        return self.training_start() + self.training.total_steps * self.training.seconds_per_step

    def failure_time(self) -> float | None:
        """When training fails (None when it does not)."""
        fail = self.training.fail_at_step
        if fail is None or fail > self.training.total_steps:
            return None
        return self.training_start() + fail * self.training.seconds_per_step

    def horizon(self, now: float) -> float:
        """The latest moment whose effects are visible: training freezes at a cancel."""
        return now if self.cancel_at is None else min(now, self.cancel_at)

    def step(self, now: float | None = None) -> int:
        return self.training.step_at(self.horizon(time.monotonic() if now is None else now))

    def phase(self, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        if self.cancel_at is not None and now >= self.cancel_at:
            if self.cancelling is not None and now < self.cancel_at + self.cancelling[1]:
                return self.cancelling[0]
            return self.cancelled
        elapsed, boundary = now - self.started_at, 0.0
        for name, seconds in self.before:
            boundary += seconds
            if elapsed < boundary:
                return name
        training = self.training.phase(now)
        if training == "failed":
            return self.failed
        if training == "queued":  # only float rounding at the boundary lands here
            return self.before[-1][0] if self.before else self.running
        if training == "running":
            return self.running
        since, boundary = now - self.training_end(), 0.0
        for name, seconds in self.after:
            boundary += seconds
            if since < boundary:
                return name
        return self.completed

    def cancel(self, now: float | None = None) -> bool:
        """Request a cancel at ``now``; False when the job already ended or a cancel is pending."""
        now = time.monotonic() if now is None else now
        if self.cancel_at is not None or self.phase(now) in self.terminal:
            return False
        self.cancel_at = now
        return True


@dataclass(frozen=True)
class PlannedFailure:
    """A failure `ProviderEmulator.fail_next_job` planned for the next created job."""

    at_step: int
    message: str | None = None


class PlannedFailures:
    """Failures waiting for the next created jobs, first planned first used. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[PlannedFailure] = deque()

    def plan(self, at_step: int, message: str | None = None) -> PlannedFailure:
        if not isinstance(at_step, int) or isinstance(at_step, bool) or at_step < 1:
            raise ValueError(f"at_step must be a whole number of steps, 1 or more; got {at_step!r}")
        failure = PlannedFailure(at_step, message)
        with self._lock:
            self._queue.append(failure)
        return failure

    def take(self) -> PlannedFailure | None:
        """The failure for the job being created now, if one is planned."""
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def __len__(self) -> int:
        return len(self._queue)

    def __getitem__(self, index: int) -> PlannedFailure:
        return self._queue[index]


__all__ = ["PhaseTimeline", "PlannedFailure", "PlannedFailures", "SimulatedTraining"]
