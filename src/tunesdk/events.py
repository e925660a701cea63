"""One event schema for every backend.

Backends create events without ``run_id``/``seq``/``time``; the run store stamps them when it appends
them to the run's ``events.jsonl``: ``seq`` counts from 1 without gaps, so a reader that remembers the
last ``seq`` it saw never misses or repeats one. ``source_id`` is the id of the provider object an event
came from; the store drops an event whose ``source_id`` it already holds, so re-polling a provider
after a crash never delivers an event twice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from tunesdk.models import ModelHandleField

RunStatus = Literal[
    "created", "validating", "uploading", "queued", "running", "completed", "failed", "cancelled"
]
TERMINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed", "cancelled"})


class _EventBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str = ""
    seq: int = 0
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    source_id: str | None = None

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=True)

    @property
    def terminal(self) -> bool:
        return False


class StatusChanged(_EventBase):
    """The run moved to a new status; ``provider_status`` keeps the provider's own word for it."""

    type: Literal["status"] = "status"
    status: RunStatus
    provider_status: str | None = None
    message: str | None = None


class Progress(_EventBase):
    """A training log step."""

    type: Literal["progress"] = "progress"
    step: int
    total_steps: int | None = None
    epoch: float | None = None
    train_loss: float | None = None
    learning_rate: float | None = None
    grad_norm: float | None = None
    tokens_per_second: float | None = None
    eta_s: float | None = None
    #: percent done, from providers that report only that (Fireworks SFT); ``step`` is then the
    #: same percent and ``total_steps`` 100, so step-based readers keep working
    percent: float | None = None
    #: reinforcement learning (GRPO): mean and std of the summed reward over the step's
    #: completions, the mean per reward function (by name), the KL to the reference model, the
    #: mean completion length in tokens and the fraction of clipped ratios
    reward_mean: float | None = None
    reward_std: float | None = None
    rewards: dict[str, float] | None = None
    kl: float | None = None
    completion_length: float | None = None
    clip_ratio: float | None = None


class Evaluation(_EventBase):
    """An evaluation on the eval set."""

    type: Literal["evaluation"] = "evaluation"
    step: int
    eval_loss: float | None = None
    metrics: dict[str, float] = Field(default_factory=dict)


class Checkpoint(_EventBase):
    """A checkpoint was saved (``path`` locally, ``provider_id`` remotely)."""

    type: Literal["checkpoint"] = "checkpoint"
    step: int
    path: str | None = None
    provider_id: str | None = None


class Log(_EventBase):
    """A human-readable message from the backend or from tunesdk."""

    type: Literal["log"] = "log"
    level: Literal["debug", "info", "warning", "error"] = "info"
    message: str


class Completed(_EventBase):
    """The run finished; ``model`` is the handle to use."""

    type: Literal["completed"] = "completed"
    model: ModelHandleField
    metrics: dict[str, float] = Field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return True


class Failed(_EventBase):
    """The run failed; ``error`` is one readable line, details are in the run folder."""

    type: Literal["failed"] = "failed"
    error: str
    error_type: str | None = None
    details_path: str | None = None

    @property
    def terminal(self) -> bool:
        return True


class Cancelled(_EventBase):
    """The run was cancelled; ``checkpoint`` is the last one kept, if any."""

    type: Literal["cancelled"] = "cancelled"
    checkpoint: str | None = None

    @property
    def terminal(self) -> bool:
        return True


Event = Annotated[
    StatusChanged | Progress | Evaluation | Checkpoint | Log | Completed | Failed | Cancelled,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def parse_event(data: str | bytes | dict[str, Any]) -> Event:
    """Parse one event from its JSON text or dict."""
    if isinstance(data, dict):
        return EVENT_ADAPTER.validate_python(data)
    return EVENT_ADAPTER.validate_json(data)


def status_of(event: Event) -> RunStatus | None:
    """The run status an event implies, if any."""
    if isinstance(event, StatusChanged):
        return event.status
    if isinstance(event, Completed):
        return "completed"
    if isinstance(event, Failed):
        return "failed"
    if isinstance(event, Cancelled):
        return "cancelled"
    return None


def summarize(events: list[Event]) -> dict[str, float]:
    """Final metrics of a run from its events: last train/eval loss, steps, epochs, best eval
    loss; for RL runs the last (``reward``) and first (``first_reward``) mean reward, the last
    per reward function (``reward_<name>``) and the last KL."""
    metrics: dict[str, float] = {}
    eval_losses: list[float] = []
    for event in events:
        if isinstance(event, Progress):
            metrics["steps"] = event.step
            if event.train_loss is not None:
                metrics["train_loss"] = event.train_loss
            if event.epoch is not None:
                metrics["epoch"] = event.epoch
            if event.reward_mean is not None:
                metrics["reward"] = event.reward_mean
                metrics.setdefault("first_reward", event.reward_mean)
            for name, value in (event.rewards or {}).items():
                metrics[f"reward_{name}"] = value
            if event.kl is not None:
                metrics["kl"] = event.kl
        elif isinstance(event, Evaluation):
            if event.eval_loss is not None:
                metrics["eval_loss"] = event.eval_loss
                eval_losses.append(event.eval_loss)
            metrics.update(
                {f"eval_{k}": v for k, v in event.metrics.items() if not k.startswith("eval_")}
            )
    if eval_losses:
        metrics["best_eval_loss"] = min(eval_losses)
    if events:
        metrics["runtime_s"] = round((events[-1].time - events[0].time).total_seconds(), 3)
    return metrics


__all__ = [
    "EVENT_ADAPTER",
    "TERMINAL_STATUSES",
    "Cancelled",
    "Checkpoint",
    "Completed",
    "Evaluation",
    "Event",
    "Failed",
    "Log",
    "Progress",
    "RunStatus",
    "StatusChanged",
    "parse_event",
    "status_of",
    "summarize",
]
