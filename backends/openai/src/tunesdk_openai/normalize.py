"""OpenAI fine-tuning events and checkpoints as tunesdk events.

A ``metrics`` event becomes a Progress (and an Evaluation when it carries validation loss or, for
reinforcement jobs, validation reward); a
``message`` event becomes a Log at the same level; a checkpoint becomes a Checkpoint whose
``provider_id`` is the checkpoint model you can chat with. Every event's ``source_id`` is the OpenAI
object id, so the run store drops any event a re-poll fetches twice.
"""

from __future__ import annotations

from typing import Any

from tunesdk.events import Checkpoint, Evaluation, Event, Log, Progress

_LEVELS = {"info": "info", "warn": "warning", "warning": "warning", "error": "error"}
_VALID_KEYS = ("valid_loss", "full_valid_loss")
#: reinforcement jobs report rewards instead of losses (train_reward_mean, valid_reward_mean, ...)
_VALID_REWARD_KEYS = ("valid_reward_mean", "full_valid_reward_mean")


def job_event(event: Any, n_epochs: int | None) -> list[Event]:
    """The tunesdk events for one ``fine_tuning.job.event``."""
    data = getattr(event, "data", None) or {}
    source = f"event:{event.id}"
    if getattr(event, "type", None) != "metrics" or "step" not in data:
        level = _LEVELS.get(str(event.level), "info")
        return [Log(level=level, message=str(event.message), source_id=source)]
    step = int(data["step"])
    total = _int(data.get("total_steps"))
    events: list[Event] = [
        Progress(
            step=step,
            total_steps=total,
            epoch=_epoch(step, total, n_epochs),
            train_loss=_float(data.get("train_loss")),
            reward_mean=_float(data.get("train_reward_mean")),
            reward_std=_float(data.get("train_reward_std")),
            completion_length=_float(data.get("train_completion_tokens_mean")),
            source_id=source,
        )
    ]
    valid = [key for key in (*_VALID_KEYS, *_VALID_REWARD_KEYS) if data.get(key) is not None]
    if valid:
        # the full validation pass (end of epoch) is the better number when both are present
        losses = [key for key in valid if key in _VALID_KEYS]
        loss_key = "full_valid_loss" if "full_valid_loss" in losses else "valid_loss"
        metrics = {
            key: float(value)
            for key, value in data.items()
            if (key.startswith("valid_") or key.startswith("full_valid_"))
            and _float(value) is not None
        }
        events.append(
            Evaluation(
                step=step,
                eval_loss=float(data[loss_key]) if losses else None,
                metrics=metrics,
                source_id=f"{source}:eval",
            )
        )
    return events


def checkpoint_event(checkpoint: Any) -> Checkpoint:
    """The tunesdk Checkpoint for one ``fine_tuning.job.checkpoint``."""
    return Checkpoint(
        step=int(checkpoint.step_number),
        provider_id=str(checkpoint.fine_tuned_model_checkpoint),
        source_id=f"ckpt:{checkpoint.id}",
    )


def merge_by_step(events: list[Event], checkpoints: list[Checkpoint]) -> list[Event]:
    """``events`` with each checkpoint placed after the progress of its step (in step order)."""
    pending = sorted(checkpoints, key=lambda c: c.step)
    merged: list[Event] = []
    for event in events:
        while pending and isinstance(event, Progress) and pending[0].step < event.step:
            merged.append(pending.pop(0))
        merged.append(event)
    return merged + pending


def _epoch(step: int, total: int | None, n_epochs: int | None) -> float | None:
    if not total or not n_epochs:
        return None
    return round(step * n_epochs / total, 4)


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


__all__ = ["checkpoint_event", "job_event", "merge_by_step"]
