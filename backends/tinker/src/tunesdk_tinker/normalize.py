"""Tinker's answers → tunesdk's vocabulary: checkpoint names and paths, step metrics, events.

- a ``save_state`` checkpoint is named ``step-<N>`` and its ``tinker://`` path is the
  Checkpoint event's ``path`` (what ``resume=`` and ``Cancelled.checkpoint`` carry);
- ``ForwardBackwardOutput.metrics["loss:sum"]`` is the step's loss: the loop scales the weights
  so that the sum is a mean (see `tunesdk_tinker.data.batch_datums`);
- Progress, Evaluation and Checkpoint events are built here, so every loop reports alike.
"""

from __future__ import annotations

import math
import re
from typing import Any

from tunesdk.errors import JobError
from tunesdk.events import Checkpoint, Evaluation, Progress

CHECKPOINT_PREFIX = "step-"
_STEP = re.compile(r"(?:^|/)step-(\d+)$")


def checkpoint_name(step: int) -> str:
    return f"{CHECKPOINT_PREFIX}{step}"


def step_of(path: str) -> int:
    """The optimizer step a ``save_state`` path was saved after (``…/weights/step-12`` → 12);
    JobError when it is not a checkpoint this backend wrote."""
    found = _STEP.search(path.rstrip("/"))
    if found is None:
        raise JobError(
            f"cannot resume from {path!r}: not a checkpoint of the tinker backend "
            "(tinker://<run>/weights/step-<N>)",
            where="resume",
            fix="resume a run of the tinker backend (resume='RUN_ID'), whose Checkpoint events "
            "carry such paths",
        )
    return int(found.group(1))


def is_remote(path: str | None) -> bool:
    """Whether a checkpoint path lives on a service (``tinker://…``), not on this disk."""
    return bool(path) and "://" in str(path)


def loss_of(output: Any) -> float | None:
    """The summed loss of one ``ForwardBackwardOutput`` (None when the service gave none)."""
    metrics = getattr(output, "metrics", None) or {}
    value = metrics.get("loss:sum", metrics.get("loss"))
    if value is None:
        value = getattr(output, "loss", None)
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def summed(outputs: list[Any]) -> float | None:
    """The loss of several forward_backward calls of one step (each already scaled)."""
    losses = [loss_of(o) for o in outputs]
    known = [v for v in losses if v is not None]
    return sum(known) if known else None


#: where services put the gradient norm in ``OptimStepResponse.metrics``
GRAD_NORM_KEYS = ("grad_norm:mean", "grad_norm")


def grad_norm(response: Any) -> float | None:
    """The gradient norm of an ``optim_step`` answer, when the service reports one."""
    metrics = getattr(response, "metrics", None) or {}
    for key in GRAD_NORM_KEYS:
        value = metrics.get(key)
        if value is not None and math.isfinite(float(value)):
            return float(value)
    return None


def progress(
    *,
    step: int,
    total_steps: int,
    steps_per_epoch: int,
    loss: float | None,
    learning_rate: float,
    tokens: int,
    seconds: float,
    elapsed: float,
    steps_done: int,
    grad_norm: float | None = None,
    **rl: Any,
) -> Progress:
    """One optimizer step as a Progress event (``epoch`` fractional, as TRL counts it)."""
    eta = elapsed / steps_done * max(total_steps - step, 0) if steps_done else None
    return Progress(
        step=step,
        total_steps=total_steps,
        epoch=round(step / steps_per_epoch, 4),
        train_loss=loss,
        learning_rate=learning_rate,
        grad_norm=grad_norm,
        tokens_per_second=round(tokens / seconds, 1) if seconds > 0 and tokens else None,
        eta_s=round(eta, 2) if eta is not None else None,
        **rl,
    )


def evaluation(
    step: int, loss: float | None, metrics: dict[str, float] | None = None
) -> Evaluation:
    return Evaluation(step=step, eval_loss=loss, metrics=metrics or {})


def checkpoint(step: int, path: str) -> Checkpoint:
    return Checkpoint(step=step, path=path, provider_id=path)


def save_path(response: Any) -> str:
    """The path of a save answer: ``tinker`` answers an object with ``.path``, Together's
    compatible client a bare checkpoint id."""
    path = getattr(response, "path", None)
    return str(path if path is not None else response)


__all__ = [
    "checkpoint",
    "checkpoint_name",
    "evaluation",
    "grad_norm",
    "is_remote",
    "loss_of",
    "progress",
    "save_path",
    "step_of",
    "summed",
]
