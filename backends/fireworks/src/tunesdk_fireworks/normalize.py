"""Fireworks job state -> tunesdk's RemoteJob and events.

What the API reports, and what tunesdk makes of it:

- ``state`` (``JOB_STATE_*``) -> StatusChanged (``STATUS_MAP``) carrying ``status.message``; a
  later message within the same state -> Log (a failure's message becomes the Failed error);
- supervised jobs' ``jobProgress`` -> Progress with ``percent`` done (``step`` = the same percent,
  ``total_steps`` = 100; the API reports no step count or loss for supervised jobs; W&B gets the
  curves);
- DPO jobs' metrics file (``:getMetricsFileEndpoint``, one JSON object per line) -> Progress with
  the step, loss and learning rate, and Evaluation for rows that carry an eval loss;
- the output model, once the job completes -> one Checkpoint.

Every event carries a ``source_id`` derived from what it reports, so repeating a poll (after a crash
or a reattach) never repeats an event.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from tunesdk.events import (
    TERMINAL_STATUSES,
    Checkpoint,
    Evaluation,
    Event,
    Log,
    Progress,
    RunStatus,
    StatusChanged,
)
from tunesdk.managed import RemoteJob

#: Every JobState the SDK knows (and two older ones the docs list), as a tunesdk status.
STATUS_MAP: dict[str, RunStatus] = {
    "JOB_STATE_UNSPECIFIED": "queued",
    "JOB_STATE_CREATING": "queued",
    "JOB_STATE_CREATING_INPUT_DATASET": "validating",
    "JOB_STATE_VALIDATING": "validating",
    "JOB_STATE_PENDING": "queued",
    "JOB_STATE_RE_QUEUEING": "queued",
    "JOB_STATE_IDLE": "queued",
    "JOB_STATE_PAUSED": "queued",
    "JOB_STATE_RUNNING": "running",
    "JOB_STATE_ROLLOUT": "running",
    "JOB_STATE_EVALUATION": "running",
    "JOB_STATE_WRITING_RESULTS": "running",
    "JOB_STATE_CANCELLING": "running",
    "JOB_STATE_COMPLETED": "completed",
    "JOB_STATE_EARLY_STOPPED": "completed",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_EXPIRED": "failed",
    "JOB_STATE_CANCELLED": "cancelled",
    "JOB_STATE_DELETING": "cancelled",
    "JOB_STATE_DELETING_CLEANING_UP": "cancelled",
}

LOSS_KEYS = ("loss", "train/loss", "train_loss")
EVAL_LOSS_KEYS = ("eval_loss", "eval/loss", "validation_loss")
STEP_KEYS = ("step", "global_step", "train/global_step")
LR_KEYS = ("learning_rate", "train/learning_rate", "lr")


def output_model_of(raw: dict[str, Any], account: str) -> str | None:
    """The fine-tuned model's full name (the API may give an id or a name)."""
    config = raw.get("trainingConfig") if isinstance(raw.get("trainingConfig"), dict) else raw
    model = config.get("outputModel") if isinstance(config, dict) else None
    if not model:
        return None
    return model if str(model).startswith("accounts/") else f"accounts/{account}/models/{model}"


def remote_job(raw: dict[str, Any], account: str) -> RemoteJob:
    """A job's JSON as tunesdk.managed's RemoteJob."""
    state = str(raw.get("state") or "JOB_STATE_UNSPECIFIED")
    status: dict[str, Any] = raw["status"] if isinstance(raw.get("status"), dict) else {}
    error = None
    if STATUS_MAP.get(state) == "failed":
        message = status.get("message") or "no reason given"
        error = f"Fireworks job {raw.get('name')} ended {state}: {message}"
    return RemoteJob(
        status=state,
        model_id=output_model_of(raw, account),
        error=error,
        trained_tokens=(raw.get("jobProgress") or {}).get("inputTokens"),
        raw=raw,
    )


def status_events(raw: dict[str, Any], cursor: dict[str, Any]) -> list[Event]:
    """StatusChanged on entering a live state (with Fireworks' message), Log when the message
    changes within it. Updates ``cursor`` (``state``, ``message``) in place.

    tunesdk.managed emits the same StatusChanged after these events, with the same ``source_id``
    (``status:<provider status>``), so the store keeps this one: status first, then what
    happened in it. Terminal states are left to tunesdk.managed (Completed/Failed/Cancelled).
    """
    state = str(raw.get("state") or "JOB_STATE_UNSPECIFIED")
    status: dict[str, Any] = raw["status"] if isinstance(raw.get("status"), dict) else {}
    message = status.get("message") or None
    mapped = STATUS_MAP.get(state)
    events: list[Event] = []
    if state != cursor.get("state"):
        if mapped is not None and mapped not in TERMINAL_STATUSES:
            events.append(
                StatusChanged(
                    status=mapped,
                    provider_status=state,
                    message=message,
                    source_id=f"status:{state}",
                )
            )
        cursor.update(state=state, message=message)
    elif message and message != cursor.get("message") and mapped not in TERMINAL_STATUSES:
        digest = hashlib.sha1(message.encode()).hexdigest()[:10]
        events.append(Log(message=f"Fireworks: {message}", source_id=f"message:{state}:{digest}"))
        cursor["message"] = message
    return events


def job_events(raw: dict[str, Any], account: str, *, final_step: int | None = None) -> list[Event]:
    """Progress (percent, for supervised jobs) and, once completed, the output model's Checkpoint.

    ``final_step`` is the last metrics step seen (DPO); supervised jobs count in percent.
    """
    events: list[Event] = []
    state = str(raw.get("state") or "")
    progress = raw.get("jobProgress")
    if isinstance(progress, dict) and progress.get("percent"):
        percent = int(progress["percent"])
        epoch = progress.get("epoch")
        events.append(
            Progress(
                step=percent,
                total_steps=100,
                percent=float(percent),  # shown as "37%", not "step 37/100"
                epoch=float(epoch) if epoch is not None else None,
                source_id=f"progress:{percent}",
            )
        )
    if STATUS_MAP.get(state) == "completed":
        model = output_model_of(raw, account)
        if model:
            step = final_step if final_step is not None else _final_step(raw)
            events.append(Checkpoint(step=step, provider_id=model, source_id="checkpoint:final"))
    return events


def reward_events(raw: dict[str, Any]) -> list[Event]:
    """Progress with the mean reward per step, from a reinforcement job's ``outputMetrics``.

    The SDK types ``outputMetrics`` as a string without describing it; when it holds a JSON list
    of per-step rows (``step``, ``reward_mean``, ``reward_std``, ``total_steps``, ...: what the
    emulator reports) each row becomes a Progress, anything else is ignored (the run still shows
    its state and, with W&B, Fireworks' own curves).
    """
    text = raw.get("outputMetrics")
    if not isinstance(text, str) or not text.strip().startswith("["):
        return []
    try:
        rows = json.loads(text)
    except json.JSONDecodeError:
        return []
    events: list[Event] = []
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict) or not isinstance(row.get("step"), int):
            continue
        events.append(
            Progress(
                step=int(row["step"]),
                total_steps=_number(row.get("total_steps"), int),
                epoch=_number(row.get("epoch"), float),
                reward_mean=_number(row.get("reward_mean"), float),
                reward_std=_number(row.get("reward_std"), float),
                kl=_number(row.get("kl"), float),
                completion_length=_number(row.get("completion_length"), float),
                source_id=f"reward:{row['step']}",
            )
        )
    return events


def _number(value: Any, kind: type) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return kind(value)
    return None


def _final_step(raw: dict[str, Any]) -> int:
    progress = raw.get("jobProgress")
    if isinstance(progress, dict) and progress.get("percent"):
        return int(progress["percent"])
    return 0


def metrics_events(text: bytes) -> tuple[list[Event], int]:
    """Events from whole lines of a metrics file, and how many bytes those lines took."""
    end = text.rfind(b"\n") + 1
    events: list[Event] = []
    for line in text[:end].splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line the metrics format does not describe; never fatal
        if isinstance(row, dict):
            events.extend(_row_events(row))
    return events, end


def _row_events(row: dict[str, Any]) -> list[Event]:
    step = _first(row, STEP_KEYS)
    if step is None:
        return []
    step = int(step)
    events: list[Event] = []
    loss = _first(row, LOSS_KEYS)
    if loss is not None:
        epoch = row.get("epoch")
        events.append(
            Progress(
                step=step,
                epoch=float(epoch) if isinstance(epoch, int | float) else None,
                train_loss=float(loss),
                learning_rate=_float(_first(row, LR_KEYS)),
                source_id=f"metric:{step}",
            )
        )
    eval_loss = _first(row, EVAL_LOSS_KEYS)
    if eval_loss is not None:
        extra = {
            k: float(v)
            for k, v in row.items()
            if k.startswith("eval") and k not in EVAL_LOSS_KEYS and isinstance(v, int | float)
        }
        events.append(
            Evaluation(
                step=step, eval_loss=float(eval_loss), metrics=extra, source_id=f"eval:{step}"
            )
        )
    return events


def _first(row: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = row.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
    return None


def _float(value: Any) -> float | None:
    return float(value) if value is not None else None


__all__ = [
    "STATUS_MAP",
    "job_events",
    "metrics_events",
    "output_model_of",
    "remote_job",
    "reward_events",
    "status_events",
]
