"""The emulator's in-memory world: files, uploads, and fine-tuning jobs with events and checkpoints.

A job's progress is a pure function of the clock (`tunesdk.emulation.SimulatedTraining`);
`TrainingJob.advance` turns the time that passed into the events and checkpoints the real
service would have published by then, so polling at any rate sees the same history.
"""

from __future__ import annotations

import math
import random
import string
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from tunesdk.emulation import EmulatorSettings, PhaseTimeline, PlannedFailures, SimulatedTraining
from tunesdk_openai.emulator.validation import FileReport, describe

JobStatus = Literal[
    "validating_files", "queued", "running", "paused", "succeeded", "failed", "cancelled"
]
ACTIVE: frozenset[str] = frozenset({"validating_files", "queued", "running", "paused"})
CHECKPOINT_EPOCHS = 3  # OpenAI keeps the checkpoints of the last three epochs


@dataclass
class Settings(EmulatorSettings):
    """How the emulated service behaves; every field can be changed while it runs
    (``emulator.configure(...)`` or ``POST /_emulator/settings``)."""

    seconds_per_step: float = 0.02
    #: seconds a job spends in validating_files, then in queued
    validate_s: float = 0.05
    queue_s: float = 0.05
    #: largest file ``POST /v1/files`` accepts (OpenAI: 512 MB); bigger files need the Uploads API
    max_file_bytes: int = 512 * 1024**2
    max_part_bytes: int = 64 * 1024**2
    max_upload_bytes: int = 8 * 1024**3
    min_examples: int = 10
    #: False answers job creation with the 403 refusal organizations got from May 2026
    fine_tuning_enabled: bool = True
    #: True answers job creation with 429 insufficient_quota (out of credit)
    out_of_quota: bool = False
    organization: str = "org-emulator"
    #: seeds the ids and loss curves (read when the emulator starts)
    seed: int = 0


class Ids:
    """Deterministic OpenAI-looking ids (``file-...``, ``ftjob-...``) from one seeded generator."""

    def __init__(self, seed: int = 0) -> None:
        self._random = random.Random(seed)
        self._alphabet = string.ascii_letters + string.digits

    def new(self, prefix: str, length: int = 24) -> str:
        return prefix + "".join(self._random.choice(self._alphabet) for _ in range(length))

    def seed(self) -> int:
        """A job seed, as the service picks one when none is given."""
        return self._random.randrange(2**31)


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int

    def to_api(self) -> dict[str, Any]:
        # No expires_at / status_details: the spec declares them optional and non-nullable, and
        # the service leaves them out when a file never expires and validated fine.
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
        }


@dataclass
class PendingUpload:
    id: str
    filename: str
    purpose: str
    size: int
    mime_type: str
    created_at: int
    expires_at: int
    status: Literal["pending", "completed", "cancelled", "expired"] = "pending"
    parts: dict[str, bytes] = field(default_factory=dict)
    file: StoredFile | None = None

    def to_api(self) -> dict[str, Any]:
        if self.status == "pending" and time.time() > self.expires_at:
            self.status = "expired"
        return {
            "id": self.id,
            "object": "upload",
            "bytes": self.size,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": self.status,
            "file": self.file.to_api() if self.file else None,
        }


@dataclass
class JobEvent:
    id: str
    created_at: int
    level: Literal["info", "warn", "error"]
    message: str
    type: Literal["message", "metrics"] = "message"
    data: dict[str, Any] | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "object": "fine_tuning.job.event",
            "id": self.id,
            "created_at": self.created_at,
            "level": self.level,
            "message": self.message,
            "type": self.type,
            "data": self.data or {},
        }


@dataclass
class JobCheckpoint:
    id: str
    created_at: int
    job_id: str
    model: str
    step: int
    metrics: dict[str, float]

    def to_api(self) -> dict[str, Any]:
        return {
            "object": "fine_tuning.job.checkpoint",
            "id": self.id,
            "created_at": self.created_at,
            "fine_tuned_model_checkpoint": self.model,
            "fine_tuning_job_id": self.job_id,
            "metrics": self.metrics,
            "step_number": self.step,
        }


@dataclass
class Hyperparameters:
    n_epochs: int
    batch_size: int
    learning_rate_multiplier: float
    beta: float | None = None
    #: reinforcement only: the resolved reasoning effort, compute multiplier and eval cadence
    reinforcement: dict[str, Any] | None = None

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "n_epochs": self.n_epochs,
            "batch_size": self.batch_size,
            "learning_rate_multiplier": self.learning_rate_multiplier,
        }
        if self.beta is not None:
            data["beta"] = self.beta
        if self.reinforcement is not None:
            data.update(self.reinforcement)
        return data


@dataclass
class TrainingJob:
    """One fine-tuning job and the clock-driven simulation behind it."""

    id: str
    model: str
    method: str  # supervised | dpo | reinforcement
    requested: dict[str, Any]  # hyperparameters as sent ("auto" kept)
    hyperparameters: Hyperparameters  # as resolved once files are validated
    training_file: str
    validation_file: str | None
    suffix: str | None
    seed: int
    metadata: dict[str, str] | None
    integrations: list[dict[str, Any]]
    organization: str
    created_at: int
    report: FileReport  # the training file's validation, revealed after validate_s
    validation_report: FileReport | None
    timeline: PhaseTimeline
    ids: Ids
    request: dict[str, Any]  # the create body as received
    status: JobStatus = "validating_files"
    events: list[JobEvent] = field(default_factory=list)
    checkpoints: list[JobCheckpoint] = field(default_factory=list)
    error: dict[str, Any] | None = None
    fine_tuned_model: str | None = None
    finished_at: int | None = None
    result_files: list[str] = field(default_factory=list)
    steps_reported: int = 0
    paused_at: float | None = None
    #: the message of a failure planned with ``fail_next_job``
    fail_message: str | None = None
    #: reinforcement jobs: the grader as sent
    grader: dict[str, Any] | None = None

    # ---- derived --------------------------------------------------------------------------

    @property
    def sim(self) -> SimulatedTraining:
        return self.timeline.training

    @property
    def total_steps(self) -> int:
        return self.sim.total_steps

    @property
    def steps_per_epoch(self) -> int:
        return max(1, self.total_steps // self.hyperparameters.n_epochs)

    @property
    def model_name(self) -> str:
        base = self.model.split(":")[1] if self.model.startswith("ft:") else self.model
        org = self.organization.removeprefix("org-")
        return f"ft:{base}:{org}:{self.suffix or ''}:{self.id[-8:]}"

    def to_api(self) -> dict[str, Any]:
        validated = self.status not in ("validating_files",) and self.error is None
        shown = self.hyperparameters.to_api() if validated else dict(self.requested)
        method_hp = dict(shown)
        if self.method == "supervised":
            method_hp.pop("beta", None)
        return {
            "object": "fine_tuning.job",
            "id": self.id,
            "model": self.model,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "fine_tuned_model": self.fine_tuned_model,
            "organization_id": self.organization,
            "result_files": self.result_files,
            "status": self.status,
            "validation_file": self.validation_file,
            "training_file": self.training_file,
            "hyperparameters": (
                {k: v for k, v in shown.items() if k != "beta"}
                if self.method == "supervised"
                else None
            ),
            "trained_tokens": self.report.tokens * self.hyperparameters.n_epochs
            if self.status == "succeeded"
            else None,
            "error": self.error,
            "user_provided_suffix": self.suffix,
            "seed": self.seed,
            "estimated_finish": self._estimated_finish(),
            "integrations": self.integrations,
            "method": {"type": self.method, self.method: self._method_settings(method_hp)},
            "metadata": self.metadata,
        }

    def _method_settings(self, hyperparameters: dict[str, Any]) -> dict[str, Any]:
        if self.method == "reinforcement":
            return {"grader": self.grader, "hyperparameters": hyperparameters}
        return {"hyperparameters": hyperparameters}

    def _estimated_finish(self) -> int | None:
        if self.status != "running":
            return None
        remaining = (self.total_steps - self.sim.step_at()) * self.sim.seconds_per_step
        return int(time.time() + remaining)

    # ---- the clock ------------------------------------------------------------------------

    def advance(self, world: World) -> None:
        """Publish everything the job did up to now: status changes, metrics, checkpoints."""
        if self.status not in ("validating_files", "queued", "running"):
            return
        now = time.monotonic()
        phase = self.timeline.phase(now)
        if self.status == "validating_files":
            if phase == "validating_files":
                return
            bad = next(
                (
                    (param, rep)
                    for param, rep in (
                        ("training_file", self.report),
                        ("validation_file", self.validation_report),
                    )
                    if rep is not None and not rep.ok
                ),
                None,
            )
            if bad is not None:
                param, report = bad
                code = (
                    "invalid_n_examples" if "at least" in report.problems[0] else f"invalid_{param}"
                )
                self._fail(code, describe(report, param), param)
                return
            self._event("Files validated, moving job to queued state")
            self.status = "queued"
        if self.status == "queued":
            if phase == "queued":
                return
            self._event("Fine-tuning job started")
            self.status = "running"
        step = self.sim.step_at(now)
        while self.steps_reported < step:
            self.steps_reported += 1
            self._report_step(self.steps_reported)
        phase = self.timeline.phase(now)
        if phase == "failed":
            self._fail(
                "internal_error",
                self.fail_message
                or f"The job failed due to an internal error at step {step}. "
                "Please try again, and contact support if the problem persists.",
                None,
            )
        elif phase == "succeeded":
            self._succeed(world)

    def _report_step(self, step: int) -> None:
        if self.method == "reinforcement":
            self._report_reward_step(step)
            return
        loss = self.sim.loss(step)
        data: dict[str, Any] = {
            "step": step,
            "total_steps": self.total_steps,
            "train_loss": loss,
            "train_mean_token_accuracy": _accuracy(loss),
        }
        message = f"Step {step}/{self.total_steps}: training loss={loss:.2f}"
        if self.validation_file and step % self._eval_every() == 0:
            valid = self.sim.eval_loss(step)
            data["valid_loss"] = valid
            data["valid_mean_token_accuracy"] = _accuracy(valid)
            message += f", validation loss={valid:.2f}"
        epoch_end = step % self.steps_per_epoch == 0
        if epoch_end and self.validation_file:
            full = round(self.sim.eval_loss(step) * 0.98, 4)
            data["full_valid_loss"] = full
            data["full_valid_mean_token_accuracy"] = _accuracy(full)
        self._event(message, kind="metrics", data=data)
        epoch = math.ceil(step / self.steps_per_epoch)
        if epoch_end and epoch > self.hyperparameters.n_epochs - CHECKPOINT_EPOCHS:
            self._checkpoint(step, data)

    def _report_reward_step(self, step: int) -> None:
        """A reinforcement step: the mean grader reward rises (from about 0.2 to 0.8) instead of
        a loss falling; validation reward every ``eval_interval`` steps and at epoch ends."""
        reward = _reward(self.sim.loss(step))
        data: dict[str, Any] = {
            "step": step,
            "total_steps": self.total_steps,
            "train_reward_mean": reward,
            "train_reward_std": round(0.25 * (1.0 - reward) + 0.05, 4),
            "train_reasoning_tokens_mean": round(900 - 400 * reward, 1),
        }
        message = f"Step {step}/{self.total_steps}: training reward={reward:.2f}"
        rft = self.hyperparameters.reinforcement or {}
        epoch_end = step % self.steps_per_epoch == 0
        if step % int(rft.get("eval_interval") or self._eval_every()) == 0 or epoch_end:
            valid = _reward(self.sim.eval_loss(step))
            data["valid_reward_mean"] = valid
            data["valid_reasoning_tokens_mean"] = round(900 - 400 * valid, 1)
            message += f", validation reward={valid:.2f}"
        self._event(message, kind="metrics", data=data)
        epoch = math.ceil(step / self.steps_per_epoch)
        if epoch_end and epoch > self.hyperparameters.n_epochs - CHECKPOINT_EPOCHS:
            self._checkpoint(step, data)

    def _eval_every(self) -> int:
        return max(1, self.total_steps // 10)

    def _checkpoint(self, step: int, metrics: dict[str, Any]) -> None:
        model = f"{self.model_name}:ckpt-step-{step}"
        checkpoint = JobCheckpoint(
            id=self.ids.new("ftckpt_"),
            created_at=int(time.time()),
            job_id=self.id,
            model=model,
            step=step,
            metrics={k: float(v) for k, v in metrics.items() if k != "total_steps"},
        )
        self.checkpoints.append(checkpoint)
        self._event(f"Checkpoint created at step {step} with Snapshot ID: {model}")

    def _succeed(self, world: World) -> None:
        self.fine_tuned_model = self.model_name
        self._event(f"New fine-tuned model created: {self.fine_tuned_model}")
        self._event("Evaluating model against our usage policies")
        self._event("Usage policy evaluations completed, model is now enabled for sampling")
        results = world.add_file(
            f"step_metrics_{self.id}.csv", "fine-tune-results", self._results_csv()
        )
        self.result_files = [results.id]
        world.models[self.fine_tuned_model] = self.id
        for checkpoint in self.checkpoints:
            world.models[checkpoint.model] = self.id
        self._finish("succeeded", "The job has successfully completed")

    def _results_csv(self) -> bytes:
        if self.method == "reinforcement":
            rows = ["step,train_reward_mean,valid_reward_mean"]
            for event in self.events:
                if event.type == "metrics" and event.data:
                    d = event.data
                    rows.append(
                        f"{d['step']},{d['train_reward_mean']},{d.get('valid_reward_mean', '')}"
                    )
            return ("\n".join(rows) + "\n").encode()
        rows = ["step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"]
        for event in self.events:
            if event.type == "metrics" and event.data:
                d = event.data
                rows.append(
                    f"{d['step']},{d['train_loss']},{d['train_mean_token_accuracy']},"
                    f"{d.get('valid_loss', '')},{d.get('valid_mean_token_accuracy', '')}"
                )
        return ("\n".join(rows) + "\n").encode()

    def _fail(self, code: str, message: str, param: str | None) -> None:
        self.error = {"code": code, "message": message, "param": param}
        self._finish("failed", message, level="error")

    def _finish(self, status: JobStatus, message: str, level: str = "info") -> None:
        self._event(message, level=level)
        self.status = status
        self.finished_at = int(time.time())

    def _event(
        self,
        message: str,
        *,
        level: str = "info",
        kind: Literal["message", "metrics"] = "message",
        data: dict[str, Any] | None = None,
    ) -> None:
        self.events.append(
            JobEvent(
                id=self.ids.new("ftevent-"),
                created_at=int(time.time()),
                level=level,  # type: ignore[arg-type]
                message=message,
                type=kind,
                data=data,
            )
        )

    # ---- user actions ---------------------------------------------------------------------

    def cancel(self) -> None:
        self._finish("cancelled", "Fine-tuning job cancelled")

    def pause(self) -> None:
        self.paused_at = time.monotonic()
        self.status = "paused"
        self._event("Fine-tuning job paused")

    def resume(self) -> None:
        if self.paused_at is not None:
            # shift the simulated start so the job continues from the step it paused at
            self.sim.started_at += time.monotonic() - self.paused_at
        self.paused_at = None
        self.status = "running"
        self._event("Fine-tuning job resumed")


def _reward(loss: float) -> float:
    """The simulated mean reward for a simulated loss (2.4 → 0.2, 0.6 → 0.8), in [0, 1]."""
    return round(max(0.0, min(1.0, 1.0 - loss / 3.0)), 4)


def _accuracy(loss: float) -> float:
    return round(max(0.0, min(1.0, 1.0 - loss / 3.0)), 4)


class World:
    """Everything the emulated account holds, guarded by one lock."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        seed: int = 0,
        failures: PlannedFailures | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.failures = failures if failures is not None else PlannedFailures()
        self.ids = Ids(seed)
        self.lock = threading.RLock()
        self.files: dict[str, StoredFile] = {}
        self.uploads: dict[str, PendingUpload] = {}
        self.jobs: dict[str, TrainingJob] = {}
        #: servable fine-tuned model id -> the job that made it
        self.models: dict[str, str] = {}

    def add_file(self, filename: str, purpose: str, content: bytes) -> StoredFile:
        stored = StoredFile(self.ids.new("file-"), filename, purpose, content, int(time.time()))
        self.files[stored.id] = stored
        return stored

    def new_job(
        self,
        *,
        model: str,
        method: str,
        requested: dict[str, Any],
        training_file: StoredFile,
        validation_file: StoredFile | None,
        report: FileReport,
        validation_report: FileReport | None,
        suffix: str | None,
        seed: int | None,
        metadata: dict[str, str] | None,
        integrations: list[dict[str, Any]],
        request: dict[str, Any],
        grader: dict[str, Any] | None = None,
    ) -> TrainingJob:
        settings = self.settings
        examples = max(report.examples, 1)
        hyper = Hyperparameters(
            n_epochs=_auto(requested.get("n_epochs"), 3),
            batch_size=_auto(requested.get("batch_size"), max(1, min(256, examples // 500 or 1))),
            learning_rate_multiplier=_auto(requested.get("learning_rate_multiplier"), 1.8),
            beta=_auto(requested.get("beta"), 0.1) if method == "dpo" else None,
            reinforcement=(
                {
                    "reasoning_effort": requested.get("reasoning_effort", "default"),
                    "compute_multiplier": _auto(requested.get("compute_multiplier"), 1.0),
                    "eval_interval": _auto(requested.get("eval_interval"), 1),
                    "eval_samples": _auto(requested.get("eval_samples"), 1),
                }
                if method == "reinforcement"
                else None
            ),
        )
        job_seed = seed if seed is not None else self.ids.seed()
        total = math.ceil(examples / hyper.batch_size) * hyper.n_epochs
        job_id = self.ids.new("ftjob-")
        failure = self.failures.take()
        timeline = PhaseTimeline.start(
            total_steps=total,
            seconds_per_step=settings.seconds_per_step,
            before=(("validating_files", settings.validate_s), ("queued", settings.queue_s)),
            fail_at_step=failure.at_step if failure else settings.fail_at_step,
            seed=job_seed,
            completed="succeeded",
        )
        job = TrainingJob(
            id=job_id,
            model=model,
            method=method,
            requested=requested,
            hyperparameters=hyper,
            training_file=training_file.id,
            validation_file=validation_file.id if validation_file else None,
            suffix=suffix,
            seed=job_seed,
            metadata=metadata,
            integrations=integrations,
            organization=settings.organization,
            created_at=int(time.time()),
            report=report,
            validation_report=validation_report,
            timeline=timeline,
            ids=self.ids,
            request=request,
            fail_message=failure.message if failure else None,
            grader=grader,
        )
        job._event(f"Created fine-tuning job: {job_id}")
        files = training_file.id + (f" and {validation_file.id}" if validation_file else "")
        job._event(f"Validating training file: {files}")
        self.jobs[job_id] = job
        return job

    def advance_all(self) -> None:
        for job in self.jobs.values():
            job.advance(self)


def _auto(value: Any, default: Any) -> Any:
    return default if value in (None, "auto") else value
