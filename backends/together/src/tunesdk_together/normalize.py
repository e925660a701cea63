"""Together's job events and metrics -> tunesdk events.

Two sources, merged in time order:

- ``GET /v1/fine-tunes/{id}/events``: lifecycle messages. ``checkpoint_save`` becomes a Checkpoint
  (its ``provider_id`` ``<job id>:<step>`` is what ``from_checkpoint`` accepts), ``job_error`` and
  ``warning`` become error/warning Logs, the rest info Logs. Events that mark a status change
  (``training_start``, ``model_compressing``, ...) also yield that StatusChanged, with the same
  ``source_id`` as the one polling the job's status gives, so a phase shorter than the poll interval
  is still reported, once.
- ``GET /v1/fine-tunes/{id}/metrics``: rows keyed ``train/*`` become Progress, rows with ``eval/*``
  keys become Evaluation.

Each event's ``source_id`` names the provider object it came from (``event:<hash>``,
``metric:train:<step>``, ``metric:eval:<step>``), so refetching after a crash repeats nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from tunesdk.events import Checkpoint, Evaluation, Event, Log, Progress, RunStatus, StatusChanged

LAST = datetime.max.replace(tzinfo=UTC)
#: event type -> the (non-terminal) job status it starts
STATUS_EVENTS = {
    "job_pending": "pending",
    "training_start": "running",
    "model_compressing": "compressing",
    "model_uploading": "uploading",
    "cancel_requested": "cancel_requested",
}
LEVELS: dict[str, Literal["warning", "error"]] = {
    "job_error": "error",
    "job_user_error": "error",
    "warning": "warning",
    "billing_limit": "warning",
}


@dataclass
class Cursor:
    """How far a run has read: events seen so far and the last metrics step."""

    events: int = 0
    step: int = 0

    @classmethod
    def load(cls, value: Any) -> Cursor:
        if isinstance(value, dict):
            return cls(int(value.get("events", 0)), int(value.get("step", 0)))
        return cls()

    def dump(self) -> dict[str, int]:
        return {"events": self.events, "step": self.step}


def job_events(job_id: str, event: Any, status_map: dict[str, RunStatus]) -> list[Event]:
    """A Together ``FinetuneEvent`` as tunesdk events: the status it marks (if any), then itself."""
    out: list[Event] = []
    provider_status = STATUS_EVENTS.get(str(getattr(event, "type", "") or ""))
    if provider_status is not None:
        out.append(
            StatusChanged(
                status=status_map[provider_status],
                provider_status=provider_status,
                source_id=f"status:{provider_status}",
            )
        )
    out.append(job_event(job_id, event))
    return out


def job_event(job_id: str, event: Any) -> Event:
    """One Together ``FinetuneEvent`` as a tunesdk event."""
    kind = str(getattr(event, "type", "") or "")
    message = str(getattr(event, "message", "") or kind)
    source = f"event:{_event_key(job_id, event)}"
    step = getattr(event, "step", None)
    if kind == "checkpoint_save" and step:
        return Checkpoint(
            step=int(step),
            path=getattr(event, "checkpoint_path", None) or None,
            provider_id=f"{job_id}:{int(step)}",
            source_id=source,
        )
    level: Literal["info", "warning", "error"] = LEVELS.get(kind) or (
        "error" if getattr(event, "level", None) == "error" else "info"
    )
    return Log(level=level, message=f"together: {message}", source_id=source)


def metric_events(rows: list[dict[str, Any]], total_steps: int | None) -> list[tuple[str, Event]]:
    """(timestamp, event) pairs for metric rows; rows without a step are skipped."""
    out: list[tuple[str, Event]] = []
    for row in rows:
        step = row.get("train/global_step")
        if step is None:
            continue
        step = int(step)
        stamp = str(row.get("timestamp") or "")
        evals = {
            k.removeprefix("eval/"): float(v)
            for k, v in row.items()
            if k.startswith("eval/") and isinstance(v, int | float)
        }
        if evals:
            loss = evals.pop("loss", None)
            out.append(
                (
                    stamp,
                    Evaluation(
                        step=step, eval_loss=loss, metrics=evals, source_id=f"metric:eval:{step}"
                    ),
                )
            )
        if "train/loss" in row:
            out.append(
                (
                    stamp,
                    Progress(
                        step=step,
                        total_steps=total_steps,
                        epoch=_float(row.get("train/epoch")),
                        train_loss=_float(row.get("train/loss")),
                        learning_rate=_float(row.get("train/learning_rate")),
                        grad_norm=_float(row.get("train/grad_norm")),
                        source_id=f"metric:train:{step}",
                    ),
                )
            )
    return out


def merge(timed: list[tuple[str, Event]]) -> list[Event]:
    """Events ordered by provider timestamp (stable: equal stamps keep their given order;
    events without a readable stamp go last)."""
    return [event for _, event in sorted(timed, key=lambda pair: _when(pair[0]))]


def _when(stamp: str) -> datetime:
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return LAST
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _event_key(job_id: str, event: Any) -> str:
    digest = getattr(event, "hash", None)
    if digest:
        return str(digest)
    text = (
        f"{job_id}|{getattr(event, 'created_at', '')}|{getattr(event, 'type', '')}|"
        f"{getattr(event, 'message', '')}|{getattr(event, 'step', '')}"
    )
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


__all__ = ["STATUS_EVENTS", "Cursor", "job_event", "job_events", "merge", "metric_events"]
