"""Overfitting detection: eval loss rising while train loss keeps falling.

The rule (thresholds are keyword arguments, defaults below):

- there are at least ``patience + 1`` evaluations;
- the last ``patience`` evaluations each raised the eval loss over the one before (``patience``
  consecutive rises, default 2);
- the latest eval loss is above the run's lowest eval loss by at least ``min_rise`` of it
  (relative, default 0.02 = 2 %), so noise around a plateau does not count;
- train loss fell over the same span: the mean train loss logged in the interval that ended at the
  best evaluation is higher than the mean train loss in the interval that ended at the latest one.
  (Eval and train both rising is divergence, not overfitting.)

Overfitting is reported as beginning at the step of the lowest eval loss so far: that checkpoint is
the one to keep. The check needs only the best evaluation and the last ``patience + 1``, so it runs
incrementally during a run (`OverfitTracker`, hooked into the run store) and
`detect_overfitting` replays a finished run's events the same way: both report the first
episode, at the same evaluation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from tunesdk.events import Evaluation, Event, Progress

#: consecutive eval-loss rises needed
PATIENCE = 2
#: how far above its minimum the eval loss must be, relative to the minimum
MIN_RISE = 0.02


@dataclass(frozen=True)
class EvalPoint:
    """One evaluation, with the mean train loss logged since the previous evaluation (or, when
    none was logged in between, the last train loss seen)."""

    step: int
    eval_loss: float
    train_loss: float | None


@dataclass(frozen=True)
class OverfitWarning:
    """Where overfitting began (``step``: the lowest eval loss) and the evidence."""

    step: int
    detected_step: int
    best_eval_loss: float
    eval_loss: float
    train_loss_start: float
    train_loss_end: float

    @property
    def rise(self) -> float:
        """Relative rise of the eval loss above its minimum (0.05 = 5 %)."""
        return (self.eval_loss - self.best_eval_loss) / max(abs(self.best_eval_loss), 1e-12)

    @property
    def message(self) -> str:
        return (
            f"possible overfitting: eval loss rose from {self.best_eval_loss:.4g} (best, step "
            f"{self.step}) to {self.eval_loss:.4g} at step {self.detected_step} "
            f"(+{self.rise:.1%}) while train loss fell from {self.train_loss_start:.4g} to "
            f"{self.train_loss_end:.4g}; the step-{self.step} checkpoint is likely the better "
            "model — consider fewer epochs, early stopping, more data or a lower learning rate"
        )

    def __str__(self) -> str:
        return self.message


def eval_points(events: Iterable[Event]) -> list[EvalPoint]:
    """The evaluations of a run, each paired with the train loss of the interval before it."""
    tracker = OverfitTracker()
    for event in events:
        tracker.observe(event)
    return tracker.points


def detect_overfitting(
    events: Iterable[Event], *, patience: int = PATIENCE, min_rise: float = MIN_RISE
) -> OverfitWarning | None:
    """Check a run's events for overfitting (rule in the module docs).

    Replays the events as they arrived and returns the first confirmed episode (the one the run's
    warning Log reported), or ``None`` when there is none or too few evaluations to tell.
    """
    if patience < 1:
        raise ValueError(f"patience must be at least 1, got {patience}")
    tracker = OverfitTracker(patience=patience, min_rise=min_rise, keep_points=False)
    for event in events:
        warning = tracker.observe(event)
        if warning is not None:
            return warning
    return None


def _judge(best: EvalPoint, recent: Sequence[EvalPoint], min_rise: float) -> OverfitWarning | None:
    last = recent[-1]
    if not all(after.eval_loss > before.eval_loss for before, after in pairwise(recent)):
        return None
    if last.eval_loss - best.eval_loss < min_rise * abs(best.eval_loss):
        return None
    if best.train_loss is None or last.train_loss is None or last.train_loss >= best.train_loss:
        return None
    return OverfitWarning(
        step=best.step,
        detected_step=last.step,
        best_eval_loss=best.eval_loss,
        eval_loss=last.eval_loss,
        train_loss_start=best.train_loss,
        train_loss_end=last.train_loss,
    )


class OverfitTracker:
    """Incremental detector: feed it events in order; keeps O(patience) numbers, JSON-able state.

    `observe` returns the warning once, at the evaluation that confirms overfitting.
    """

    def __init__(
        self,
        state: dict[str, Any] | None = None,
        *,
        patience: int = PATIENCE,
        min_rise: float = MIN_RISE,
        keep_points: bool = True,
    ) -> None:
        state = state or {}
        self.patience = patience
        self.min_rise = min_rise
        self.train_sum: float = float(state.get("train_sum", 0.0))
        self.train_count: int = int(state.get("train_count", 0))
        self.last_train: float | None = state.get("last_train")
        self.best: EvalPoint | None = _point(state.get("best"))
        self.recent: list[EvalPoint] = [_point(p) for p in state.get("recent", [])]  # type: ignore[misc]
        self.warned: bool = bool(state.get("warned", False))
        self._keep = keep_points
        self.points: list[EvalPoint] = []

    def observe(self, event: Event) -> OverfitWarning | None:
        if isinstance(event, Progress) and event.train_loss is not None:
            self.train_sum += event.train_loss
            self.train_count += 1
            self.last_train = event.train_loss
            return None
        if not isinstance(event, Evaluation) or event.eval_loss is None:
            return None
        train = self.train_sum / self.train_count if self.train_count else self.last_train
        point = EvalPoint(step=event.step, eval_loss=event.eval_loss, train_loss=train)
        self.train_sum, self.train_count = 0.0, 0
        if self._keep:
            self.points.append(point)
        if self.best is None or point.eval_loss < self.best.eval_loss:
            self.best = point
        self.recent = [*self.recent, point][-(self.patience + 1) :]
        if self.warned or len(self.recent) < self.patience + 1:
            return None
        warning = _judge(self.best, self.recent, self.min_rise)
        if warning is not None:
            self.warned = True
        return warning

    def to_state(self) -> dict[str, Any]:
        return {
            "train_sum": self.train_sum,
            "train_count": self.train_count,
            "last_train": self.last_train,
            "best": _raw(self.best),
            "recent": [_raw(p) for p in self.recent],
            "warned": self.warned,
        }


def _point(raw: Any) -> EvalPoint | None:
    return None if raw is None else EvalPoint(int(raw[0]), float(raw[1]), raw[2])


def _raw(point: EvalPoint | None) -> list[Any] | None:
    return None if point is None else [point.step, point.eval_loss, point.train_loss]


__all__ = [
    "MIN_RISE",
    "PATIENCE",
    "EvalPoint",
    "OverfitTracker",
    "OverfitWarning",
    "detect_overfitting",
    "eval_points",
]
