"""Everything an emulated Together account holds: files, fine-tuning jobs, and their rules.

Job creation checks what the platform checks (model supported, files uploaded and valid, file format
matching the training method, hyperparameters within the model's limits, suffix length and
characters, credit) and answers with Together's error shape when something is wrong.
"""

from __future__ import annotations

import math
import re
import shutil
import tempfile
import threading
import uuid
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from tunesdk.emulation import EmulatorSettings, PlannedFailures, apply_settings
from tunesdk_together.emulator import artifacts
from tunesdk_together.emulator.endpoints import Endpoints
from tunesdk_together.emulator.errors import ApiError
from tunesdk_together.emulator.files import FileStore, StoredFile
from tunesdk_together.emulator.jobs import EmulatedJob, Timing
from tunesdk_together.models import (
    CATALOG,
    MAX_LEARNING_RATE,
    MIN_LEARNING_RATE,
    FineTunableModel,
    by_together_id,
    limits_json,
    lookup,
)

SUFFIX_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
SUFFIX_MAX = 40
PRICE_PER_MILLION_TOKENS = 3.0


@dataclass
class EmulatorConfig(EmulatorSettings, Timing):
    """Knobs of an emulated Together account (``TogetherEmulator(**settings)``, ``configure()``,
    ``POST /_emulator/settings``): the phase lengths of `Timing`, and the account's own."""

    account: str = "tunesdk-emulator"
    #: Credit in dollars; a job whose estimated price exceeds it is refused.
    balance: float = 1000.0
    #: Folders served by ``/v1/finetune/download`` instead of the generated defaults.
    adapter_dir: Path | None = None
    model_dir: Path | None = None

    @property
    def timing(self) -> Timing:
        """The phase lengths a job created now gets."""
        return Timing(**{f.name: getattr(self, f.name) for f in fields(Timing)})


class EmulatorState:
    """The account's state, shared by every request. Thread-safe."""

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        root: Path | None = None,
        failures: PlannedFailures | None = None,
    ) -> None:
        self.config = config or EmulatorConfig()
        self._owned_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="tunesdk-together-emu-")) if root is None else root
        self.files = FileStore(self.root / "files", lambda: self.config.timing.validation_s)
        self.files.root.mkdir(parents=True, exist_ok=True)
        self.jobs: dict[str, EmulatedJob] = {}
        self.endpoints = Endpoints(self.config.account, self.config.timing.pending_s)
        self.failures = failures if failures is not None else PlannedFailures()
        self._lock = threading.Lock()

    def close(self) -> None:
        if self._owned_root:
            shutil.rmtree(self.root, ignore_errors=True)

    # ---- test controls -------------------------------------------------------------------------

    def fail_next_job(self, at_step: int, message: str | None = None) -> None:
        """Make the next created job fail with ``error`` once it reaches ``at_step``."""
        self.failures.plan(at_step, message)

    def set_timing(self, **changes: float) -> Timing:
        """Change phase durations for jobs created from now on."""
        apply_settings(self.config, changes)
        return self.config.timing

    # ---- models --------------------------------------------------------------------------------

    def supported_models(self) -> list[str]:
        return [m.together_id for m in CATALOG]

    def model_limits(self, model_name: str) -> dict[str, Any]:
        base = by_together_id(model_name)
        if base is None:  # a job id or output name, as the SDK sends for from_checkpoint
            parent = next(
                (j for j in self.jobs.values() if model_name in {j.id, j.output_name}), None
            )
            if parent is None:
                raise ApiError(
                    404,
                    f"Model {model_name} is not available for fine-tuning",
                    code="model_not_available",
                )
            base = parent.base
        return limits_json(base)

    # ---- jobs ----------------------------------------------------------------------------------

    def estimate_price(self, body: dict[str, Any]) -> dict[str, Any]:
        train = self.files.files.get(str(body.get("training_file")))
        if train is None or not train.usable:
            return {
                "estimation_available": False,
                "unavailable_reason": "train_file_invalid"
                if train is not None
                else "train_file_not_validated",
            }
        validation = self._optional_file(body.get("validation_file"))
        if validation is not None and not validation.usable:
            return {"estimation_available": False, "unavailable_reason": "eval_file_invalid"}
        epochs = int(body.get("n_epochs") or 1)
        tokens = _token_estimate(train)
        eval_tokens = (
            _token_estimate(validation) * int(body.get("n_evals") or 0) if validation else 0
        )
        price = round((tokens * epochs + eval_tokens) / 1e6 * PRICE_PER_MILLION_TOKENS, 4)
        return {
            "estimation_available": True,
            "estimated_total_price": price,
            "allowed_to_proceed": price <= self.config.balance,
            "user_limit": self.config.balance,
            "estimated_train_token_count": tokens * epochs,
            "estimated_eval_token_count": eval_tokens,
        }

    def create_job(self, body: dict[str, Any]) -> EmulatedJob:
        base, body = self._resolve_base(body)
        train = self._usable_file(body.get("training_file"), "training_file", required=True)
        assert train is not None
        validation = self._usable_file(body.get("validation_file"), "validation_file")
        method = str((body.get("training_method") or {}).get("method", "sft"))
        _check_method(method, body, train, validation)
        _check_hyperparameters(base, method, body, has_validation=validation is not None)
        suffix = body.get("suffix")
        if suffix is not None:
            _check_suffix(str(suffix))
        estimate = self.estimate_price(body)
        if estimate.get("estimated_total_price", 0) > self.config.balance:
            raise ApiError(
                402,
                "Insufficient balance: this job is estimated at "
                f"${estimate['estimated_total_price']} "
                f"and your credit is ${self.config.balance}. Add credit at "
                "https://api.together.ai/settings/billing.",
                code="insufficient_balance",
            )
        batch = _batch_size(base, method, body)
        job_id = f"ft-{uuid.uuid4()}"
        with self._lock:
            failure = self.failures.take()
            job = EmulatedJob(
                id=job_id,
                request=body,
                base=base,
                output_name=self._output_name(base, suffix, job_id),
                steps_per_epoch=max(
                    1, math.ceil((train.report.nlines if train.report else 1) / batch)
                ),
                timing=self.config.timing,
                token_count=_token_estimate(train),
                fail_at_step=failure.at_step if failure else self.config.fail_at_step,
            )
            if failure is not None and failure.message:
                job.fail_message = failure.message
            self.jobs[job_id] = job
        return job

    def get_job(self, job_id: str) -> EmulatedJob:
        job = self.jobs.get(job_id)
        if job is None:
            raise ApiError(404, f"Fine-tune job {job_id} not found", param="id", code="not_found")
        return job

    def list_jobs(self) -> list[EmulatedJob]:
        return sorted(self.jobs.values(), key=lambda j: j.created_mono)

    def cancel_job(self, job_id: str) -> EmulatedJob:
        job = self.get_job(job_id)
        if not job.cancel():
            raise ApiError(
                400, f"Fine-tune job {job_id} is already {job.status()} and cannot be cancelled"
            )
        return job

    def delete_job(self, job_id: str) -> dict[str, Any]:
        job = self.get_job(job_id)
        if job.status() not in {"completed", "error", "cancelled"}:
            raise ApiError(
                400, f"Fine-tune job {job_id} is {job.status()}; cancel it before deleting"
            )
        with self._lock:
            del self.jobs[job_id]
        return {"message": f"Fine-tune job {job_id} deleted"}

    def servable_models(self) -> set[str]:
        """Models a dedicated endpoint can serve: completed fine-tunes and catalog bases."""
        done = {job.output_name for job in self.jobs.values() if job.status() == "completed"}
        return done | {m.together_id for m in CATALOG}

    def find_output(self, model_name: str) -> EmulatedJob | None:
        """The completed job whose output model (or adapter) is ``model_name``."""
        for job in self.jobs.values():
            if model_name in {job.output_name, f"{job.output_name}-adapter"}:
                return job
        return None

    # ---- weights -------------------------------------------------------------------------------

    def archive(self, job_id: str, checkpoint: str | None, step: int | None) -> Path:
        """The ``.tar.zst`` served for a download of ``job_id`` (built on first request)."""
        job = self.get_job(job_id)
        if job.status() != "completed":
            raise ApiError(
                400,
                f"Fine-tune job {job_id} is {job.status()}; only completed jobs can be downloaded",
            )
        if step is not None and step not in {*job.checkpoint_steps(), job.total_steps, 0}:
            raise ApiError(
                404, f"No checkpoint at step {step} for {job_id}", param="checkpoint_step"
            )
        kind = checkpoint or ("merged" if job.is_lora else "model_output_path")
        if kind == "adapter" and not job.is_lora:
            raise ApiError(
                400,
                "Only the default checkpoint type is available for full fine-tunes",
                param="checkpoint",
            )
        adapter = kind == "adapter"
        target = self.root / "archives" / f"{job_id}-{kind}-{step or 'final'}.tar.zst"
        if not target.exists():
            folder = self._weights_folder(job, adapter=adapter)
            artifacts.pack_folder(folder, target)
        return target

    def _weights_folder(self, job: EmulatedJob, *, adapter: bool) -> Path:
        given = self.config.adapter_dir if adapter else self.config.model_dir
        if given is not None:
            return given
        folder = self.root / "weights" / f"{job.id}-{'adapter' if adapter else 'model'}"
        if folder.exists():
            return folder
        if adapter:
            lora = job.request.get("training_type") or {}
            modules = str(lora.get("lora_trainable_modules") or "all-linear")
            targets = (
                list(job.base.target_modules) if modules == "all-linear" else modules.split(",")
            )
            return artifacts.write_default_adapter(
                folder,
                base_model=job.base.together_id,
                r=int(lora.get("lora_r") or 8),
                alpha=int(lora.get("lora_alpha") or 16),
                dropout=float(lora.get("lora_dropout") or 0.0),
                target_modules=targets,
            )
        return artifacts.write_default_model(folder, base_model=job.base.together_id)

    # ---- helpers -------------------------------------------------------------------------------

    def _resolve_base(self, body: dict[str, Any]) -> tuple[FineTunableModel, dict[str, Any]]:
        model, source = body.get("model"), body.get("from_checkpoint")
        if not model and not source:
            raise ApiError(400, "Either model or from_checkpoint is required", param="model")
        if source:
            parent = self._checkpoint_parent(str(source))
            return parent.base, {**body, "model": parent.base.together_id}
        base = by_together_id(str(model))
        if base is None:
            hint = lookup(str(model))
            tip = f" Did you mean {hint.together_id}?" if hint else ""
            raise ApiError(
                400,
                f"Model {model} is not supported for fine-tuning.{tip} See "
                "https://docs.together.ai/docs/fine-tuning-models",
                param="model",
                code="model_not_supported",
            )
        return base, body

    def _checkpoint_parent(self, source: str) -> EmulatedJob:
        """The job whose checkpoint ``source`` names: ``JOB`` (its final model, so a completed
        job) or ``JOB:STEP`` (an intermediate checkpoint it saved, whatever became of the job
        after: a failed or cancelled job's checkpoints stay usable)."""
        step = re.search(r":(\d+)$", source)
        name = source[: step.start()] if step else source
        for job in self.jobs.values():
            if name not in {job.id, job.output_name}:
                continue
            if step is None and job.status() == "completed":
                return job
            if step is not None and int(step[1]) in {c["step"] for c in job.checkpoints()}:
                return job
        raise ApiError(
            400,
            f"from_checkpoint {source!r} names no saved checkpoint of a fine-tune job (a job "
            "without a step needs to have completed)",
            param="from_checkpoint",
        )

    def _optional_file(self, file_id: Any) -> StoredFile | None:
        return self.files.files.get(str(file_id)) if file_id else None

    def _usable_file(
        self, file_id: Any, param: str, *, required: bool = False
    ) -> StoredFile | None:
        if not file_id:
            if required:
                raise ApiError(400, f"{param} is required", param=param)
            return None
        stored = self.files.files.get(str(file_id))
        if stored is None:
            raise ApiError(
                400, f"{param} {file_id} does not exist", param=param, code="file_not_found"
            )
        if stored.purpose != "fine-tune":
            raise ApiError(
                400,
                f"{param} {file_id} was uploaded with purpose {stored.purpose!r}, not 'fine-tune'",
                param=param,
            )
        if stored.processing_status == "INVALID_FORMAT":
            reason = stored.report.error if stored.report else "invalid format"
            raise ApiError(
                400,
                f"{param} {file_id} failed validation: {reason}",
                param=param,
                code="invalid_file_format",
            )
        if not stored.usable:
            raise ApiError(400, f"{param} {file_id} has not been validated yet", param=param)
        return stored

    def _output_name(self, base: FineTunableModel, suffix: Any, job_id: str) -> str:
        parts = [base.short_name, str(suffix)] if suffix else [base.short_name]
        return f"{self.config.account}/{'-'.join(parts)}-{job_id[3:11]}"


def _check_method(
    method: str, body: dict[str, Any], train: StoredFile, validation: StoredFile | None
) -> None:
    if method not in {"sft", "dpo"}:
        raise ApiError(
            400,
            f"training_method.method must be 'sft' or 'dpo', got {method!r}",
            param="training_method",
        )
    for param, stored in (("training_file", train), ("validation_file", validation)):
        if stored is None or stored.report is None:
            continue
        preference = stored.report.dataset_format == "PREFERENCE_OPENAI"
        if method == "dpo" and not preference:
            raise ApiError(
                400,
                f"{param} is in {stored.report.dataset_format} format; DPO needs "
                "preference data (input, preferred_output, non_preferred_output)",
                param=param,
            )
        if method == "sft" and preference:
            raise ApiError(
                400, f"{param} holds preference data; use training_method dpo for it", param=param
            )
    beta = (body.get("training_method") or {}).get("dpo_beta")
    if method == "dpo" and beta is not None and float(beta) <= 0:
        raise ApiError(400, "dpo_beta must be positive", param="training_method.dpo_beta")


def _check_hyperparameters(
    base: FineTunableModel, method: str, body: dict[str, Any], *, has_validation: bool
) -> None:
    def bounded(param: str, low: float, high: float, default: float) -> None:
        value = body.get(param, default)
        if value is None:
            return
        if not isinstance(value, int | float) or not low <= value <= high:
            raise ApiError(
                400, f"{param} must be between {low} and {high}, got {value!r}", param=param
            )

    bounded("n_epochs", 1, base.max_epochs, 1)
    bounded("n_checkpoints", 1, base.max_checkpoints, 1)
    bounded("n_evals", 0, base.max_evals, 0)
    bounded("learning_rate", MIN_LEARNING_RATE, MAX_LEARNING_RATE, 1e-5)
    bounded("warmup_ratio", 0, 1, 0)
    bounded("weight_decay", 0, math.inf, 0)
    bounded("max_grad_norm", 0, math.inf, 1)
    if int(body.get("n_evals") or 0) > 0 and not has_validation:
        raise ApiError(400, "n_evals > 0 needs a validation_file", param="n_evals")
    context = base.context_dpo if method == "dpo" else base.context_sft
    bounded("max_seq_length", 1, context, context)
    training_type = body.get("training_type") or {"type": "Lora"}
    if training_type.get("type") == "Full":
        if not base.full_training:
            raise ApiError(
                400,
                f"Full fine-tuning is not supported for {base.together_id}; use LoRA",
                param="training_type",
            )
    elif training_type.get("type") == "Lora":
        _check_lora(base, training_type)
    else:
        raise ApiError(
            400, f"Unknown training_type {training_type.get('type')!r}", param="training_type"
        )
    _batch_size(base, method, body)


def _check_lora(base: FineTunableModel, lora: dict[str, Any]) -> None:
    rank = lora.get("lora_r", 8)
    if not isinstance(rank, int) or not 1 <= rank <= base.max_rank:
        raise ApiError(
            400,
            f"lora_r must be an integer between 1 and {base.max_rank}, got {rank!r}",
            param="training_type.lora_r",
        )
    alpha = lora.get("lora_alpha", 2 * rank)
    if not isinstance(alpha, int) or alpha <= 0:
        raise ApiError(
            400,
            f"lora_alpha must be a positive integer, got {alpha!r}",
            param="training_type.lora_alpha",
        )
    dropout = lora.get("lora_dropout", 0.0)
    if not isinstance(dropout, int | float) or not 0 <= dropout < 1:
        raise ApiError(
            400,
            f"lora_dropout must be in [0, 1), got {dropout!r}",
            param="training_type.lora_dropout",
        )
    modules = str(lora.get("lora_trainable_modules") or "all-linear")
    if modules != "all-linear":
        unknown = sorted(set(modules.split(",")) - set(base.target_modules))
        if unknown:
            raise ApiError(
                400,
                f"lora_trainable_modules {unknown} are not available for "
                f"{base.together_id}; choose from {list(base.target_modules)} or "
                "'all-linear'",
                param="training_type.lora_trainable_modules",
            )


def _batch_size(base: FineTunableModel, method: str, body: dict[str, Any]) -> int:
    full = (body.get("training_type") or {}).get("type") == "Full"
    if full:
        high = base.full_max_batch_dpo if method == "dpo" else base.full_max_batch
    else:
        high = base.lora_max_batch_dpo if method == "dpo" else base.lora_max_batch
    value = body.get("batch_size", "max")
    if value == "max" or value is None:
        return high
    if not isinstance(value, int) or not base.min_batch <= value <= high:
        raise ApiError(
            400,
            f"batch_size must be 'max' or an integer between {base.min_batch} and "
            f"{high} for this model and method, got {value!r}",
            param="batch_size",
        )
    accumulation = body.get("gradient_accumulation_steps") or 1
    return int(value) * int(accumulation)


def _check_suffix(suffix: str) -> None:
    if len(suffix) > SUFFIX_MAX or not SUFFIX_RE.match(suffix):
        raise ApiError(
            400,
            f"suffix {suffix!r} is invalid: use at most {SUFFIX_MAX} characters from "
            "letters, digits, '.', '_' and '-'",
            param="suffix",
        )


def _token_estimate(stored: StoredFile | None) -> int:
    return 0 if stored is None else max(1, stored.bytes // 4)


__all__ = ["EmulatorConfig", "EmulatorState"]
