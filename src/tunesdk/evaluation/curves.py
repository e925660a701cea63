"""Loss curves from a run's events: the same for local and managed runs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from tunesdk.events import Evaluation, Event, Progress


@dataclass(frozen=True)
class LossCurve:
    """Train and eval loss against optimizer step, each sorted by step."""

    train: list[tuple[int, float]] = field(default_factory=list)
    eval: list[tuple[int, float]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.train and not self.eval


def loss_curve(events: Iterable[Event]) -> LossCurve:
    """Collect ``Progress.train_loss`` and ``Evaluation.eval_loss`` by step.

    A step reported twice (a resumed run re-logging a step) keeps its last value.
    """
    train: dict[int, float] = {}
    evals: dict[int, float] = {}
    for event in events:
        if isinstance(event, Progress) and event.train_loss is not None:
            train[event.step] = event.train_loss
        elif isinstance(event, Evaluation) and event.eval_loss is not None:
            evals[event.step] = event.eval_loss
    return LossCurve(train=sorted(train.items()), eval=sorted(evals.items()))


__all__ = ["LossCurve", "loss_curve"]
