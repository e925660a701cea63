"""A tunesdk run seen as OpenAI's objects: FineTuningJob, FineTuningJobEvent, FineTuningJobCheckpoint.

The job id *is* the run id (``trl-20261201-204146-a1763f``): the same id works in ``tunesdk runs``,
``Run.attach``, the native API and the dashboard. What OpenAI's job object says beyond the run
(the request's file ids, method, hyperparameters as sent, metadata) is kept beside the run store in
``$TUNESDK_HOME/serve/jobs/<run id>.json``, written once when the job is created.

Statuses: ``created``/``validating``/``uploading`` → ``validating_files``; ``queued``, ``running``
as they are (``paused`` while a provider reports its job paused); ``completed`` → ``succeeded``;
``failed`` (and a damaged run) → ``failed``; ``cancelled``.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

from tunesdk.events import (
    Cancelled,
    Checkpoint,
    Completed,
    Evaluation,
    Event,
    Failed,
    Log,
    Progress,
    StatusChanged,
)
from tunesdk.store import RunRecord
from tunesdk.store.files import write_atomic

STATUSES = {
    "created": "validating_files",
    "validating": "validating_files",
    "uploading": "validating_files",
    "queued": "queued",
    "running": "running",
    "completed": "succeeded",
    "failed": "failed",
    "cancelled": "cancelled",
}
ORGANIZATION = "org-tunesdk"
_LEVELS = {"debug": "info", "info": "info", "warning": "warn", "error": "error"}


def _seconds(event: Event) -> int:
    return int(event.time.timestamp())


class JobSidecars:
    """The OpenAI-side facts of each job (``serve/jobs/<run id>.json``), cached once read."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._cache: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def save(self, run_id: str, facts: dict[str, Any]) -> None:
        write_atomic(self.folder / f"{run_id}.json", json.dumps(facts))
        with self._lock:
            self._cache[run_id] = facts

    def get(self, run_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._cache.get(run_id)
        if found is not None:
            return found
        path = self.folder / f"{run_id}.json"
        try:
            facts: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        with self._lock:
            self._cache[run_id] = facts
        return facts


class Outcomes:
    """What a finished run's final event says, read once per run (it never changes)."""

    def __init__(self, files_dir: Path | None = None) -> None:
        self.files_dir = files_dir
        self._cache: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        #: fine-tuned model URI → the run that made it (for chat completions)
        self.by_model: dict[str, str] = {}

    def of(self, record: RunRecord, events: list[Event] | None = None) -> dict[str, Any]:
        with self._lock:
            found = self._cache.get(record.run_id)
        if found is not None:
            return found
        events = record.events(strict=False) if events is None else events
        final = next((e for e in reversed(events) if e.terminal), None)
        outcome: dict[str, Any] = {"finished_at": _seconds(final) if final else None}
        if isinstance(final, Completed):
            outcome["fine_tuned_model"] = final.model.to_uri()
            tokens = final.metrics.get("trained_tokens") or final.metrics.get("tokens")
            outcome["trained_tokens"] = int(tokens) if tokens else None
        if isinstance(final, Failed):
            outcome["error"] = {
                "code": final.error_type or "training_failed",
                "message": hide_paths(final.error, self.files_dir)
                if self.files_dir
                else final.error,
                "param": None,
            }
        if final is not None:
            with self._lock:
                self._cache[record.run_id] = outcome
                if "fine_tuned_model" in outcome:
                    self.by_model[outcome["fine_tuned_model"]] = record.run_id
        return outcome


def job_object(
    record: RunRecord,
    facts: dict[str, Any],
    outcomes: Outcomes,
    *,
    events: list[Event] | None = None,
) -> dict[str, Any]:
    """The FineTuningJob of ``record``; ``events`` (all of them) add ``estimated_finish`` and
    the ``paused`` status while the run is live."""
    try:
        run_status: str = record.status
    except Exception:  # a damaged run reads as failed
        run_status = "failed"
    status = STATUSES.get(run_status, "failed")
    outcome = (
        outcomes.of(record, events) if run_status in ("completed", "failed", "cancelled") else {}
    )
    estimated_finish = None
    if events is not None and status in ("queued", "running"):
        status, estimated_finish = _live(events, status)
    method = facts["method"]
    hyper = dict(facts["hyperparameters"])
    settings: dict[str, Any] = {"hyperparameters": hyper}
    if method == "reinforcement":
        settings["grader"] = facts.get("grader")
    error = outcome.get("error")
    if run_status == "failed" and error is None:
        error = {"code": "training_failed", "message": "the run failed", "param": None}
    return {
        "object": "fine_tuning.job",
        "id": record.run_id,
        "model": facts["model"],
        "created_at": facts["created_at"],
        "finished_at": outcome.get("finished_at"),
        "fine_tuned_model": outcome.get("fine_tuned_model"),
        "organization_id": ORGANIZATION,
        "result_files": [facts["result_file"]] if facts.get("result_file") else [],
        "status": status,
        "validation_file": facts.get("validation_file"),
        "training_file": facts["training_file"],
        "hyperparameters": (
            {k: v for k, v in hyper.items() if k != "beta"} if method == "supervised" else hyper
        ),
        "trained_tokens": (
            outcome.get("trained_tokens") or facts.get("trained_tokens")
            if status == "succeeded"
            else None
        ),
        "error": error,
        "user_provided_suffix": facts.get("suffix"),
        "seed": facts["seed"],
        "estimated_finish": estimated_finish,
        "integrations": facts.get("integrations") or [],
        "method": {"type": method, method: settings},
        "metadata": facts.get("metadata"),
    }


def _live(events: list[Event], status: str) -> tuple[str, int | None]:
    last_status = next((e for e in reversed(events) if isinstance(e, StatusChanged)), None)
    if last_status is not None and (last_status.provider_status or "").lower() == "paused":
        return "paused", None
    progress = next((e for e in reversed(events) if isinstance(e, Progress)), None)
    if status == "running" and progress is not None and progress.eta_s is not None:
        return status, int(progress.time.timestamp() + progress.eta_s)
    return status, None


def results_csv(events: list[Event]) -> bytes:
    """OpenAI's results file for a finished job: one row per logged step (``step``,
    ``train_loss``, ``valid_loss`` from the latest evaluation at or before it, ``learning_rate``)."""
    valid: dict[int, float] = {
        e.step: e.eval_loss for e in events if isinstance(e, Evaluation) and e.eval_loss is not None
    }
    lines = ["step,train_loss,valid_loss,learning_rate"]
    last_valid: float | None = None
    for event in events:
        if not isinstance(event, Progress):
            continue
        last_valid = valid.get(event.step, last_valid)
        cells = [event.step, event.train_loss, last_valid, event.learning_rate]
        lines.append(",".join("" if c is None else str(c) for c in cells))
    return ("\n".join(lines) + "\n").encode()


# ---- events -------------------------------------------------------------------------------------


def event_id(run_id: str, seq: int) -> str:
    return f"ftevent-{run_id}-{seq}"


def seq_of_event_id(run_id: str, text: str) -> int | None:
    prefix = f"ftevent-{run_id}-"
    rest = text[len(prefix) :] if text.startswith(prefix) else ""
    return int(rest) if rest.isdigit() else None


def hide_paths(text: str, files_dir: Path) -> str:
    """``text`` with every path of a stored file replaced by the file's id: a client sees its
    own ids, never the server's folders."""
    serve_dir = re.escape(str(files_dir.parent))
    pattern = (
        serve_dir + r"/(?:files|inputs)/(file-[0-9a-f]{24})(?:\.[0-9a-f]+)?(?:/content[.\w]*)?"
    )
    return re.sub(pattern, r"\1", text)


#: tunesdk statuses OpenAI's shape calls validating_files alike
_BEFORE_QUEUED = frozenset({"created", "validating", "uploading"})


def event_object(event: Event, files_dir: Path | None = None) -> dict[str, Any]:
    """One tunesdk event as a FineTuningJobEvent (``type`` ``metrics`` for progress/evaluation);
    ``files_dir``: stored files' paths in messages become file ids."""
    level, kind = "info", "message"
    data: dict[str, Any] = {}
    if isinstance(event, StatusChanged):
        message = f"Status: {STATUSES.get(event.status, event.status)}"
        # created, validating and uploading are all validating_files: say which, or the log
        # shows one line twice
        collapsed = event.status if event.status in _BEFORE_QUEUED else None
        detail = event.message or event.provider_status or collapsed
        if detail:
            message += f" ({detail})"
        data = {"status": event.status}
        if event.provider_status:
            data["provider_status"] = event.provider_status
    elif isinstance(event, Progress):
        kind = "metrics"
        data = {
            key: value
            for key, value in {
                "step": event.step,
                "total_steps": event.total_steps,
                "train_loss": event.train_loss,
                "learning_rate": event.learning_rate,
                "epoch": event.epoch,
                "grad_norm": event.grad_norm,
                "reward": event.reward_mean,
            }.items()
            if value is not None
        }
        total = f"/{event.total_steps}" if event.total_steps else ""
        loss = f": training loss={event.train_loss:.4f}" if event.train_loss is not None else ""
        message = f"Step {event.step}{total}{loss}"
    elif isinstance(event, Evaluation):
        kind = "metrics"
        data = {"step": event.step, **event.metrics}
        if event.eval_loss is not None:
            data["valid_loss"] = event.eval_loss
        loss = f": validation loss={event.eval_loss:.4f}" if event.eval_loss is not None else ""
        message = f"Evaluation at step {event.step}{loss}"
    elif isinstance(event, Checkpoint):
        message = f"Checkpoint created at step {event.step}"
        data = {"step": event.step}
    elif isinstance(event, Log):
        level, message = _LEVELS.get(event.level, "info"), event.message
    elif isinstance(event, Completed):
        message = "The job has successfully completed"
        data = {"fine_tuned_model": event.model.to_uri()}
    elif isinstance(event, Failed):
        level, message = "error", f"The job failed: {event.error}"
    else:
        assert isinstance(event, Cancelled)
        message = "The job was cancelled"
    if files_dir is not None:
        message = hide_paths(message, files_dir)
    return {
        "object": "fine_tuning.job.event",
        "id": event_id(event.run_id, event.seq),
        "created_at": _seconds(event),
        "level": level,
        "message": message,
        "type": kind,
        "data": data,
    }


# ---- checkpoints --------------------------------------------------------------------------------


def checkpoint_id(run_id: str, seq: int) -> str:
    return f"ftckpt-{run_id}-{seq}"


def checkpoint_objects(run_id: str, backend: str, events: list[Event]) -> list[dict[str, Any]]:
    """Every Checkpoint event as a FineTuningJobCheckpoint, oldest first, with the metrics last
    reported at or before its step."""
    metrics: dict[str, float] = {}
    found = []
    for event in events:
        if isinstance(event, Progress) and event.train_loss is not None:
            metrics.update(step=float(event.step), train_loss=event.train_loss)
        elif isinstance(event, Evaluation) and event.eval_loss is not None:
            metrics.update(valid_loss=event.eval_loss)
        elif isinstance(event, Checkpoint):
            if event.path:
                model = f"local:{event.path}"
            else:
                model = f"{backend}:{event.provider_id or event.step}"
            found.append(
                {
                    "object": "fine_tuning.job.checkpoint",
                    "id": checkpoint_id(run_id, event.seq),
                    "created_at": _seconds(event),
                    "fine_tuned_model_checkpoint": model,
                    "fine_tuning_job_id": run_id,
                    "metrics": {**metrics, "step": float(event.step)},
                    "step_number": event.step,
                }
            )
    return found


__all__ = [
    "ORGANIZATION",
    "STATUSES",
    "JobSidecars",
    "Outcomes",
    "checkpoint_objects",
    "event_object",
    "job_object",
    "results_csv",
]
