"""Emulated fine-tuning jobs: the Fireworks job lifecycle on a deterministic clock.

A job walks through the states Fireworks reports for supervised fine-tuning and DPO jobs:

    JOB_STATE_CREATING -> JOB_STATE_VALIDATING -> JOB_STATE_PENDING -> JOB_STATE_RUNNING
    -> JOB_STATE_WRITING_RESULTS -> JOB_STATE_COMPLETED

or ends in JOB_STATE_FAILED (a failure step was set) or, after a cancel request,
JOB_STATE_CANCELLING -> JOB_STATE_CANCELLED. Each phase before training lasts ``phase_s``; training
lasts ``total_steps * seconds_per_step`` (`tunesdk.emulation.SimulatedTraining`).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from tunesdk.emulation import SimulatedTraining

JobKind = Literal["sft", "dpo"]
TERMINAL_STATES = frozenset({"JOB_STATE_COMPLETED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"})
COLLECTIONS: dict[JobKind, str] = {"sft": "supervisedFineTuningJobs", "dpo": "dpoJobs"}


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class JobRecord:
    """One emulated job; ``body`` is the create request as received (camelCase)."""

    kind: JobKind
    account: str
    job_id: str
    body: dict[str, Any]
    training: SimulatedTraining
    phase_s: float
    epochs: int
    output_model: str
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    started: float = field(default_factory=time.monotonic)
    cancel_requested: float | None = None
    final_state: str | None = None
    final_status: dict[str, str] | None = None
    completed: datetime | None = None

    @property
    def name(self) -> str:
        return f"accounts/{self.account}/{COLLECTIONS[self.kind]}/{self.job_id}"

    @property
    def config(self) -> dict[str, Any]:
        """The training settings: top level for SFT, ``trainingConfig`` for DPO."""
        if self.kind == "dpo":
            nested = self.body.get("trainingConfig")
            return nested if isinstance(nested, dict) else {}
        return self.body

    # ---- clock ------------------------------------------------------------------------------

    def training_end(self) -> float:
        return (
            self.started
            + self.training.queue_s
            + self.training.total_steps * self.training.seconds_per_step
        )

    def state_at(self, now: float) -> tuple[str, dict[str, str]]:
        """The job's state and status at ``now`` (monotonic seconds)."""
        if self.final_state is not None:
            return self.final_state, self.final_status or {"code": "OK", "message": ""}
        if self.cancel_requested is not None and now >= self.cancel_requested:
            if now - self.cancel_requested < self.phase_s:
                return "JOB_STATE_CANCELLING", {"code": "OK", "message": "cancellation requested"}
            return "JOB_STATE_CANCELLED", {"code": "CANCELLED", "message": "cancelled by the user"}
        elapsed = now - self.started
        if elapsed < self.phase_s:
            return "JOB_STATE_CREATING", {"code": "OK", "message": "creating the job"}
        if elapsed < 2 * self.phase_s:
            return "JOB_STATE_VALIDATING", {"code": "OK", "message": "validating the dataset"}
        if elapsed < 3 * self.phase_s:
            return "JOB_STATE_PENDING", {"code": "OK", "message": "waiting for trainer capacity"}
        phase = self.training.phase(now)
        if phase == "failed":
            step = self.training.step_at(now)
            return "JOB_STATE_FAILED", {
                "code": "INTERNAL",
                "message": f"training failed at step {step}: emulated trainer failure",
            }
        if phase == "completed":
            if now - self.training_end() < self.phase_s:
                return "JOB_STATE_WRITING_RESULTS", {"code": "OK", "message": "writing the model"}
            return "JOB_STATE_COMPLETED", {"code": "OK", "message": ""}
        return "JOB_STATE_RUNNING", {"code": "OK", "message": "training"}

    def step_at(self, now: float) -> int:
        if self.cancel_requested is not None:
            now = min(now, self.cancel_requested)
        return self.training.step_at(now)

    def freeze(self, state: str, status: dict[str, str]) -> None:
        """Record a terminal state once, so later clock reads cannot change it."""
        self.final_state, self.final_status = state, status
        self.completed = datetime.now(UTC)

    def progress(self, now: float) -> dict[str, int]:
        total = max(self.training.total_steps, 1)
        step = self.step_at(now)
        steps_per_epoch = max(1, math.ceil(total / max(self.epochs, 1)))
        return {
            "percent": int(step * 100 / total),
            "epoch": min(step // steps_per_epoch, max(self.epochs - 1, 0)),
        }

    # ---- metrics ----------------------------------------------------------------------------

    def metrics_rows(self, now: float) -> list[dict[str, Any]]:
        """One JSON row per completed step, as the metrics file holds them."""
        total = max(self.training.total_steps, 1)
        steps_per_epoch = max(1, math.ceil(total / max(self.epochs, 1)))
        peak = float(self.config.get("learningRate") or 1e-4)
        rows = []
        for step in range(1, self.step_at(now) + 1):
            rows.append(
                {
                    "step": step,
                    "epoch": round(step / steps_per_epoch, 4),
                    "loss": self.training.loss(step),
                    "learning_rate": self.training.learning_rate(step - 1, peak),
                }
            )
        return rows

    def metrics_text(self, now: float) -> bytes:
        return b"".join(json.dumps(row).encode() + b"\n" for row in self.metrics_rows(now))

    # ---- wire shape -------------------------------------------------------------------------

    def to_json(self, now: float) -> dict[str, Any]:
        state, status = self.state_at(now)
        data = {k: v for k, v in self.body.items() if k != "wandbConfig"}
        wandb = self.body.get("wandbConfig")
        if isinstance(wandb, dict):
            # Fireworks never echoes the W&B key back.
            data["wandbConfig"] = {k: v for k, v in wandb.items() if k != "apiKey"}
        data.update(
            {
                "name": self.name,
                "state": state,
                "status": status,
                "createTime": timestamp(self.created),
                "updateTime": timestamp(datetime.now(UTC)),
                "createdBy": "emulator@tunesdk.local",
            }
        )
        if self.kind == "sft":
            data["outputModel"] = self.output_model
            data["jobProgress"] = self.progress(now)
        else:
            data["trainingConfig"] = {**self.config, "outputModel": self.output_model}
        if self.completed is not None:
            data["completedTime"] = timestamp(self.completed)
        return data


__all__ = ["COLLECTIONS", "TERMINAL_STATES", "JobKind", "JobRecord", "timestamp"]
