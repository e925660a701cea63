"""One emulated fine-tuning job: its clock-driven status, events, metrics and checkpoints.

Statuses follow Together's ``FinetuneJobStatus``: ``pending`` → ``queued`` → ``running`` →
``compressing`` → ``uploading`` → ``completed``; ``error`` when the job fails mid-training;
``cancel_requested`` → ``cancelled`` after a cancel. Everything is computed from the clock on each
request (nothing runs in the background), so a paused test or a slow machine never loses an event.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tunesdk.emulation import PhaseTimeline, SimulatedTraining
from tunesdk_together.models import FineTunableModel

TERMINAL = {"completed", "error", "cancelled"}


@dataclass
class Timing:
    """How long each phase of an emulated job lasts, in seconds (a job keeps the copy it was
    created with; the emulator's settings hold the current values)."""

    seconds_per_step: float = 0.05
    pending_s: float = 0.05
    queued_s: float = 0.05
    compress_s: float = 0.05
    upload_s: float = 0.05
    cancel_s: float = 0.05
    #: how long Together takes to validate an uploaded file (``processing_status`` PENDING)
    validation_s: float = 0.0


@dataclass
class EmulatedJob:
    id: str
    request: dict[str, Any]
    base: FineTunableModel
    output_name: str
    steps_per_epoch: int
    timing: Timing
    token_count: int
    fail_at_step: int | None = None
    fail_message: str = "Training failed: CUDA out of memory. Reduce batch_size or max_seq_length."
    created_wall: float = field(default_factory=time.time)
    created_mono: float = field(default_factory=time.monotonic)
    timeline: PhaseTimeline = field(init=False)

    def __post_init__(self) -> None:
        dpo = self.method == "dpo"
        timing = self.timing
        self.timeline = PhaseTimeline.start(
            total_steps=self.total_steps,
            seconds_per_step=timing.seconds_per_step,
            before=(("pending", timing.pending_s), ("queued", timing.queued_s)),
            after=(("compressing", timing.compress_s), ("uploading", timing.upload_s)),
            fail_at_step=self.fail_at_step,
            seed=int(hashlib.blake2b(self.id.encode(), digest_size=4).hexdigest(), 16),
            initial_loss=0.6931 if dpo else 2.4,
            final_loss=0.25 if dpo else 0.6,
            started_at=self.created_mono,
            failed="error",
            cancelling=("cancel_requested", timing.cancel_s),
        )

    @property
    def training(self) -> SimulatedTraining:
        return self.timeline.training

    @property
    def cancel_at(self) -> float | None:
        return self.timeline.cancel_at

    # ---- request views ---------------------------------------------------------------------------

    @property
    def n_epochs(self) -> int:
        return int(self.request.get("n_epochs") or 1)

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.n_epochs

    @property
    def method(self) -> str:
        return str((self.request.get("training_method") or {}).get("method", "sft"))

    @property
    def is_lora(self) -> bool:
        training_type = self.request.get("training_type")
        return training_type is None or training_type.get("type") == "Lora"

    @property
    def has_validation(self) -> bool:
        return bool(self.request.get("validation_file"))

    # ---- timeline ------------------------------------------------------------------------------

    def _train_start(self) -> float:
        return self.timeline.training_start()

    def _train_end(self) -> float:
        return self.timeline.training_end()

    def _fail_time(self) -> float | None:
        return self.timeline.failure_time()

    def _horizon(self, now: float) -> float:
        return self.timeline.horizon(now)

    def status(self, now: float | None = None) -> str:
        return self.timeline.phase(now)

    def step(self, now: float | None = None) -> int:
        return self.timeline.step(now)

    def cancel(self, now: float | None = None) -> bool:
        """Request a cancel; False when the job already ended."""
        return self.timeline.cancel(now)

    # ---- what the API shows ----------------------------------------------------------------

    def checkpoint_steps(self) -> list[int]:
        """Steps of the intermediate checkpoints (the final model is not one of them)."""
        n = int(self.request.get("n_checkpoints") or 1)
        steps = {round(self.total_steps * i / n) for i in range(1, n)}
        return sorted(s for s in steps if 0 < s < self.total_steps)

    def eval_steps(self) -> list[int]:
        n = int(self.request.get("n_evals") or 0)
        if not self.has_validation or n <= 0:
            return []
        return sorted({max(1, round(self.total_steps * i / n)) for i in range(1, n + 1)})

    def events(self, now: float | None = None) -> list[dict[str, Any]]:
        """Every event visible at ``now``, oldest first."""
        now = time.monotonic() if now is None else now
        horizon = self._horizon(now)
        timeline = [e for e in self._timeline() if e[0] <= horizon]
        if self.cancel_at is not None and now >= self.cancel_at:
            step = self.step(now)
            timeline.append((self.cancel_at, "cancel_requested", "Cancel requested", {}))
            if now >= self.cancel_at + self.timing.cancel_s:
                timeline.append(
                    (
                        self.cancel_at + self.timing.cancel_s,
                        "job_stopped",
                        f"Job stopped at step {step}: cancelled by user",
                        {"step": step},
                    )
                )
        return [self._event(index, *entry) for index, entry in enumerate(timeline)]

    def _timeline(self) -> list[tuple[float, str, str, dict[str, Any]]]:
        start, sps = self._train_start(), self.timing.seconds_per_step
        entries: list[tuple[float, str, str, dict[str, Any]]] = [
            (self.created_mono, "job_pending", "Fine-tune request created", {}),
            (start, "job_start", "Job started", {}),
            (start, "model_downloading", f"Downloading model {self.base.together_id}", {}),
            (start, "model_download_complete", "Model download complete", {}),
            (start, "training_data_downloading", "Downloading training data", {}),
            (start, "training_data_download_complete", "Training data download complete", {}),
        ]
        if self.has_validation:
            entries += [
                (start, "validation_data_downloading", "Downloading validation data", {}),
                (
                    start,
                    "validation_data_download_complete",
                    "Validation data download complete",
                    {},
                ),
            ]
        if self.request.get("wandb_key") or self.request.get("wandb_api_key"):
            entries.append((start, "wandb_init", "Weights & Biases run initialized", {}))
        entries.append(
            (
                start,
                "training_start",
                f"Training started: {self.total_steps} steps over {self.n_epochs} epoch(s)",
                {"total_steps": self.total_steps, "token_count": self.token_count},
            )
        )
        fail = self._fail_time()
        last = self.total_steps if fail is None else int(self.fail_at_step or 0)
        checkpoints = set(self.checkpoint_steps())
        for step in range(1, last + 1):
            at = start + step * sps
            if step in checkpoints:
                path = f"{self.output_name}/checkpoints/step-{step}"
                entries.append(
                    (
                        at,
                        "checkpoint_save",
                        f"New checkpoint saved at step {step}",
                        {"step": step, "checkpoint_path": path},
                    )
                )
            if step % self.steps_per_epoch == 0 and (fail is None or step < last):
                entries.append(
                    (
                        at,
                        "epoch_complete",
                        f"Epoch {step // self.steps_per_epoch} completed at step {step}",
                        {"step": step},
                    )
                )
        if fail is not None:
            entries.append((fail, "job_error", self.fail_message, {"step": last, "level": "error"}))
            return entries
        end = self._train_end()
        compressed, uploaded = (
            end + self.timing.compress_s,
            end + self.timing.compress_s + self.timing.upload_s,
        )
        entries += [
            (
                end,
                "training_complete",
                f"Training completed at step {self.total_steps}",
                {"step": self.total_steps},
            ),
            (end, "model_compressing", "Compressing output model", {}),
            (compressed, "model_compression_complete", "Model compression complete", {}),
            (compressed, "model_uploading", "Uploading output model", {}),
            (uploaded, "model_upload_complete", "Model upload complete", {}),
            (
                uploaded,
                "job_complete",
                f"Job finished, model {self.output_name} is ready",
                {"model_path": self.output_name},
            ),
        ]
        return entries

    def _event(
        self, index: int, at: float, kind: str, message: str, extra: dict[str, Any]
    ) -> dict[str, Any]:
        digest = hashlib.sha256(f"{self.id}:{index}:{kind}".encode()).hexdigest()[:24]
        return {
            "object": "fine-tune-event",
            "created_at": self._iso(at),
            "level": extra.get("level", "info"),
            "message": message,
            "type": kind,
            "param_count": self.base_param_count,
            "token_count": extra.get("token_count", 0),
            "total_steps": extra.get("total_steps", 0),
            "wandb_url": self.wandb_url or "",
            "step": extra.get("step", 0),
            "checkpoint_path": extra.get("checkpoint_path", ""),
            "model_path": extra.get("model_path", ""),
            "training_offset": 0,
            "hash": digest,
        }

    def metrics(self, now: float | None = None) -> list[dict[str, Any]]:
        """Per-step training rows (``train/*``) and evaluation rows (``eval/*``), in step order."""
        current = self.step(now)
        peak = float(self.request.get("learning_rate") or 1e-5)
        evals = set(self.eval_steps())
        rows: list[dict[str, Any]] = []
        for step in range(1, current + 1):
            row: dict[str, Any] = {
                "train/global_step": step,
                "train/epoch": round(step / self.steps_per_epoch, 4),
                "train/loss": self.training.loss(step),
                "train/learning_rate": self._learning_rate(step, peak),
                "train/grad_norm": round(0.3 + 1.2 * math.exp(-3 * step / self.total_steps), 4),
                "timestamp": self._iso(self._train_start() + step * self.timing.seconds_per_step),
            }
            if self.method == "dpo":
                progress = step / self.total_steps
                row["train/rewards/accuracies"] = round(0.5 + 0.4 * progress, 4)
                row["train/rewards/margins"] = round(2.0 * progress, 4)
            rows.append(row)
            if step in evals:
                rows.append(
                    {
                        "train/global_step": step,
                        "eval/loss": self.training.eval_loss(step),
                        "timestamp": row["timestamp"],
                    }
                )
        return rows

    def _learning_rate(self, step: int, peak: float) -> float:
        warmup = int(self.total_steps * float(self.request.get("warmup_ratio") or 0.0))
        if step <= warmup:
            return round(peak * step / max(warmup, 1), 10)
        scheduler = self.request.get("lr_scheduler") or {}
        args = scheduler.get("lr_scheduler_args") or {}
        floor = float(args.get("min_lr_ratio") or 0.0)
        progress = (step - warmup) / max(self.total_steps - warmup, 1)
        if scheduler.get("lr_scheduler_type") == "cosine":
            cycles = float(args.get("num_cycles") or 0.5)
            factor = 0.5 * (1 + math.cos(math.pi * 2 * cycles * progress))
        else:
            factor = 1 - progress
        return round(peak * (floor + (1 - floor) * factor), 10)

    def checkpoints(self, now: float | None = None) -> list[dict[str, Any]]:
        """Intermediate checkpoints saved so far, then the final model once the job completed."""
        now = time.monotonic() if now is None else now
        current = self.step(now)
        start, sps = self._train_start(), self.timing.seconds_per_step
        items = [
            {
                "step": step,
                "created_at": self._iso(start + step * sps),
                "path": f"{self.output_name}/checkpoints/step-{step}",
                "checkpoint_type": f"Intermediate (step {step})",
                "checkpoint": "adapter" if self.is_lora else "model",
            }
            for step in self.checkpoint_steps()
            if step <= current
        ]
        if self.status(now) == "completed":
            finals = (
                [("Final Merged", "model"), ("Final Adapter", "adapter")]
                if self.is_lora
                else [("Final", "model")]
            )
            for label, kind in finals:
                items.append(
                    {
                        "step": self.total_steps,
                        "created_at": self._iso(self._train_end()),
                        "path": self.output_name,
                        "checkpoint_type": label,
                        "checkpoint": kind,
                    }
                )
        return items

    @property
    def base_param_count(self) -> int:
        size = self.base.short_name.lower()
        for token in size.replace("_", "-").split("-"):
            if token.endswith("b") and token[:-1].replace(".", "", 1).isdigit():
                return int(float(token[:-1]) * 1e9)
        return 0

    @property
    def wandb_url(self) -> str | None:
        if not (self.request.get("wandb_key") or self.request.get("wandb_api_key")):
            return None
        project = self.request.get("wandb_project_name") or "together"
        return f"https://wandb.ai/emulated/{project}/runs/{self.id}"

    def as_json(self, now: float | None = None, *, full: bool = True) -> dict[str, Any]:
        """``FinetuneResponse`` (retrieve) or ``FinetuneResponseTruncated`` (create/list/cancel)."""
        now = time.monotonic() if now is None else now
        status = self.status(now)
        request = self.request
        body: dict[str, Any] = {
            "id": self.id,
            "status": status,
            "created_at": self._iso(self.created_mono),
            "updated_at": self._iso(now),
            "started_at": self._iso(self._train_start()) if now >= self._train_start() else None,
            "user_id": "user-emulated",
            "owner_address": "emulator@together.invalid",
            "model": self.base.together_id,
            "model_output_name": self.output_name,
            "adapter_output_name": f"{self.output_name}-adapter" if self.is_lora else None,
            "suffix": request.get("suffix"),
            "training_file": request.get("training_file"),
            "validation_file": request.get("validation_file") or None,
            "n_epochs": self.n_epochs,
            "n_checkpoints": int(request.get("n_checkpoints") or 1),
            "n_evals": int(request.get("n_evals") or 0),
            "batch_size": request.get("batch_size"),
            "learning_rate": request.get("learning_rate"),
            "lr_scheduler": request.get("lr_scheduler"),
            "warmup_ratio": request.get("warmup_ratio"),
            "max_grad_norm": request.get("max_grad_norm"),
            "weight_decay": request.get("weight_decay"),
            "max_seq_length": request.get("max_seq_length"),
            "packing": request.get("packing", True),
            "random_seed": request.get("random_seed"),
            "training_method": request.get("training_method"),
            "training_type": request.get("training_type"),
            "from_checkpoint": request.get("from_checkpoint"),
            "wandb_project_name": request.get("wandb_project_name"),
            "wandb_name": request.get("wandb_name"),
            "token_count": self.token_count,
            "total_price": int(
                self.token_count * self.n_epochs * 3 / 1000
            ),  # in cents, 3 $/M tokens
            "progress": self._progress(now, status),
        }
        if full:
            step = self.step(now)
            evals = [s for s in self.eval_steps() if s <= step]
            body.update(
                {
                    "events": self.events(now),
                    "param_count": self.base_param_count,
                    "total_steps": self.total_steps,
                    "steps_completed": step,
                    "epochs_completed": step // self.steps_per_epoch,
                    "evals_completed": len(evals),
                    "queue_depth": 0 if status != "queued" else 1,
                    "wandb_url": self.wandb_url,
                    "eval_steps": self.total_steps // max(int(request.get("n_evals") or 0), 1)
                    if self.has_validation and request.get("n_evals")
                    else None,
                }
            )
        # Optional fields without a value are left out, as the service does: the spec declares
        # them non-nullable (validation_file, from_checkpoint, wandb_*, started_at, eval_steps...).
        return {key: value for key, value in body.items() if value is not None}

    def _progress(self, now: float, status: str) -> dict[str, Any]:
        if status != "running":
            return {"estimate_available": False, "seconds_remaining": 0}
        remaining = max(0.0, self._train_end() - now)
        return {"estimate_available": True, "seconds_remaining": math.ceil(remaining)}

    def _iso(self, mono: float) -> str:
        wall = self.created_wall + (mono - self.created_mono)
        return (
            datetime.fromtimestamp(wall, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
        )


__all__ = ["TERMINAL", "EmulatedJob", "Timing"]
