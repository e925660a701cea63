"""Emulated fine-tuning jobs: the Fireworks job lifecycle on a deterministic clock.

A job walks through the states Fireworks reports for supervised fine-tuning, DPO and
reinforcement fine-tuning jobs:

    JOB_STATE_CREATING -> JOB_STATE_VALIDATING -> JOB_STATE_PENDING -> JOB_STATE_RUNNING
    -> JOB_STATE_WRITING_RESULTS -> JOB_STATE_COMPLETED

or ends in JOB_STATE_FAILED (a failure step was set) or, after a cancel request,
JOB_STATE_CANCELLING -> JOB_STATE_CANCELLED. Each phase before training lasts ``phase_s``; training
lasts ``total_steps * seconds_per_step`` (`tunesdk.emulation.SimulatedTraining`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from tunesdk.emulation import PhaseTimeline, SimulatedTraining

JobKind = Literal["sft", "dpo", "grpo"]
TERMINAL_STATES = frozenset({"JOB_STATE_COMPLETED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"})
COLLECTIONS: dict[JobKind, str] = {
    "sft": "supervisedFineTuningJobs",
    "dpo": "dpoJobs",
    "grpo": "reinforcementFineTuningJobs",
}


BEFORE_TRAINING = ("JOB_STATE_CREATING", "JOB_STATE_VALIDATING", "JOB_STATE_PENDING")
STATUSES: dict[str, dict[str, str]] = {
    "JOB_STATE_CREATING": {"code": "OK", "message": "creating the job"},
    "JOB_STATE_VALIDATING": {"code": "OK", "message": "validating the dataset"},
    "JOB_STATE_PENDING": {"code": "OK", "message": "waiting for trainer capacity"},
    "JOB_STATE_RUNNING": {"code": "OK", "message": "training"},
    "JOB_STATE_WRITING_RESULTS": {"code": "OK", "message": "writing the model"},
    "JOB_STATE_COMPLETED": {"code": "OK", "message": ""},
    "JOB_STATE_CANCELLING": {"code": "OK", "message": "cancellation requested"},
    "JOB_STATE_CANCELLED": {"code": "CANCELLED", "message": "cancelled by the user"},
}


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class JobRecord:
    """One emulated job; ``body`` is the create request as received (camelCase)."""

    kind: JobKind
    account: str
    job_id: str
    body: dict[str, Any]
    timeline: PhaseTimeline
    epochs: int
    output_model: str
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    final_state: str | None = None
    final_status: dict[str, str] | None = None
    completed: datetime | None = None
    #: the message of a failure planned with ``fail_next_job``
    fail_message: str | None = None

    @staticmethod
    def clock(
        *,
        total_steps: int,
        seconds_per_step: float,
        phase_s: float,
        fail_at_step: int | None,
        seed: int,
        started_at: float,
    ) -> PhaseTimeline:
        """The Fireworks states on the clock: three phases of ``phase_s`` before training, one
        after it, and one while a cancel takes effect."""
        return PhaseTimeline.start(
            total_steps=total_steps,
            seconds_per_step=seconds_per_step,
            before=[(state, phase_s) for state in BEFORE_TRAINING],
            after=[("JOB_STATE_WRITING_RESULTS", phase_s)],
            fail_at_step=fail_at_step,
            seed=seed,
            started_at=started_at,
            running="JOB_STATE_RUNNING",
            failed="JOB_STATE_FAILED",
            completed="JOB_STATE_COMPLETED",
            cancelling=("JOB_STATE_CANCELLING", phase_s),
            cancelled="JOB_STATE_CANCELLED",
        )

    @property
    def training(self) -> SimulatedTraining:
        return self.timeline.training

    @property
    def name(self) -> str:
        return f"accounts/{self.account}/{COLLECTIONS[self.kind]}/{self.job_id}"

    @property
    def config(self) -> dict[str, Any]:
        """The training settings: top level for SFT, ``trainingConfig`` for DPO and RFT."""
        if self.kind in ("dpo", "grpo"):
            nested = self.body.get("trainingConfig")
            return nested if isinstance(nested, dict) else {}
        return self.body

    # ---- clock ------------------------------------------------------------------------------

    def state_at(self, now: float) -> tuple[str, dict[str, str]]:
        """The job's state and status at ``now`` (monotonic seconds)."""
        if self.final_state is not None:
            return self.final_state, self.final_status or {"code": "OK", "message": ""}
        state = self.timeline.phase(now)
        if state == "JOB_STATE_FAILED":
            message = self.fail_message or (
                f"training failed at step {self.step_at(now)}: emulated trainer failure"
            )
            return state, {"code": "INTERNAL", "message": message}
        return state, STATUSES[state]

    def step_at(self, now: float) -> int:
        return self.timeline.step(now)

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

    def reward_rows(self, now: float) -> list[dict[str, Any]]:
        """A reinforcement job's simulated reward curve: the mean evaluator score per step rises
        from about 0.2 to 0.8 (seeded noise), the KL to the base model grows with it."""
        total = max(self.training.total_steps, 1)
        steps_per_epoch = max(1, math.ceil(total / max(self.epochs, 1)))
        rows = []
        for step in range(1, self.step_at(now) + 1):
            reward = round(max(0.0, min(1.0, 1.0 - self.training.loss(step) / 3.0)), 4)
            rows.append(
                {
                    "step": step,
                    "total_steps": total,
                    "epoch": round(step / steps_per_epoch, 4),
                    "reward_mean": reward,
                    "reward_std": round(0.25 * (1.0 - reward) + 0.05, 4),
                    "kl": round(0.02 * step / total, 5),
                    "completion_length": round(180 - 80 * reward, 1),
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
        elif self.kind == "grpo":
            data["trainingConfig"] = {**self.config, "outputModel": self.output_model}
            data["jobProgress"] = self.progress(now)
            data["outputMetrics"] = json.dumps(self.reward_rows(now))
        else:
            data["trainingConfig"] = {**self.config, "outputModel": self.output_model}
        if self.completed is not None:
            data["completedTime"] = timestamp(self.completed)
        return data


__all__ = ["COLLECTIONS", "TERMINAL_STATES", "JobKind", "JobRecord", "timestamp"]
