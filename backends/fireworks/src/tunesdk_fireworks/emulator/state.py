"""The emulated Fireworks account: datasets, jobs, models, deployments and deployed LoRAs.

Every operation takes and returns JSON-shaped dicts in Fireworks' camelCase and raises
`ApiError` for what the real API refuses. All access goes through one lock: the emulator
serves requests from several threads (the ASGI loop and tests poking at the state).
"""

from __future__ import annotations

import functools
import math
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from tunesdk.emulation import EmulatorSettings, PlannedFailures
from tunesdk_fireworks.emulator.errors import ApiError
from tunesdk_fireworks.emulator.evaluators import evaluator_problems
from tunesdk_fireworks.emulator.jobs import (
    COLLECTIONS,
    TERMINAL_STATES,
    JobKind,
    JobRecord,
    timestamp,
)
from tunesdk_fireworks.emulator.validation import validate_files
from tunesdk_fireworks.models import BASE_MODELS, LIBRARY_ACCOUNT, parse_model_name
from tunesdk_fireworks.resources import is_resource_id, resource_id_of

MIB = 1024 * 1024
SIGNED_URL_TTL_S = 3600
LORA_RANKS = (4, 64)
DPO_BETA = (0.0, 0.5)


@dataclass
class EmulatorConfig(EmulatorSettings):
    """How the emulated account behaves; every field can be changed while it runs
    (``emulator.configure(...)`` or ``POST /_emulator/settings``)."""

    #: seconds in each state before and after training, and while a cancel takes effect
    phase_s: float = 0.05
    #: seconds a deployment takes to become ready
    deploy_s: float = 0.05
    default_batch_samples: int = 8
    single_upload_limit: int = 150 * MIB
    seed: int = 0

    @property
    def api_key(self) -> str | None:
        """The one accepted key (None: any key); setting it restricts ``api_keys`` to it."""
        return next(iter(self.api_keys)) if self.api_keys else None

    @api_key.setter
    def api_key(self, key: str | None) -> None:
        self.api_keys = None if key is None else frozenset({key})


@dataclass
class DatasetRecord:
    account: str
    dataset_id: str
    display_name: str
    declared_count: str | None
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    state: str = "UPLOADING"
    status: dict[str, str] = field(default_factory=lambda: {"code": "OK", "message": ""})
    kind: str | None = None
    examples: int = 0
    tokens: int = 0
    files: dict[str, Path] = field(default_factory=dict)
    expected: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"accounts/{self.account}/datasets/{self.dataset_id}"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "displayName": self.display_name,
            "createTime": timestamp(self.created),
            "updateTime": timestamp(datetime.now(UTC)),
            "state": self.state,
            "status": self.status,
            "userUploaded": {},
            "format": "CHAT" if self.kind == "chat" else "FORMAT_UNSPECIFIED",
            "createdBy": "emulator@tunesdk.local",
        }
        count = str(self.examples) if self.state == "READY" else self.declared_count
        if count is not None:
            data["exampleCount"] = count
        if self.state == "READY":
            data["estimatedTokenCount"] = str(self.tokens)
        return data


@dataclass
class ModelRecord:
    account: str
    model_id: str
    kind: str
    base_model: str | None = None
    context_length: int | None = None
    lora_rank: int | None = None
    fine_tuning_job: str | None = None
    created: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def name(self) -> str:
        return f"accounts/{self.account}/models/{self.model_id}"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "displayName": self.model_id,
            "kind": self.kind,
            "state": "READY",
            "status": {"code": "OK", "message": ""},
            "createTime": timestamp(self.created),
            "public": self.account == LIBRARY_ACCOUNT,
        }
        if self.kind == "HF_BASE_MODEL":
            data.update(
                {
                    "contextLength": self.context_length,
                    "tunable": True,
                    "supportsLora": True,
                    "supportsServerless": True,
                }
            )
        else:
            data["peftDetails"] = {
                "baseModel": self.base_model,
                "r": self.lora_rank,
                "targetModules": [
                    "q_proj",
                    "k_proj",
                    "v_proj",
                    "o_proj",
                    "gate_proj",
                    "up_proj",
                    "down_proj",
                ],
            }
            data["fineTuningJob"] = self.fine_tuning_job
            data["supportsServerless"] = False
        return data


@dataclass
class DeploymentRecord:
    account: str
    deployment_id: str
    base_model: str
    body: dict[str, Any]
    ready_at: float
    created: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def name(self) -> str:
        return f"accounts/{self.account}/deployments/{self.deployment_id}"

    def state(self, now: float) -> str:
        return "READY" if now >= self.ready_at else "CREATING"

    def to_json(self, now: float) -> dict[str, Any]:
        return {
            **self.body,
            "name": self.name,
            "baseModel": self.base_model,
            "state": self.state(now),
            "status": {"code": "OK", "message": ""},
            "createTime": timestamp(self.created),
            "replicaCount": 1 if self.state(now) == "READY" else 0,
        }


@dataclass
class DeployedModelRecord:
    account: str
    deployed_id: str
    model: str
    deployment: str
    ready_at: float
    default: bool = True
    created: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def name(self) -> str:
        return f"accounts/{self.account}/deployedModels/{self.deployed_id}"

    def state(self, now: float) -> str:
        return "DEPLOYED" if now >= self.ready_at else "DEPLOYING"

    def to_json(self, now: float) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "deployment": self.deployment,
            "state": self.state(now),
            "status": {"code": "OK", "message": ""},
            "default": self.default,
            "serverless": False,
            "createTime": timestamp(self.created),
        }


@dataclass
class SignedUpload:
    account: str
    dataset_id: str
    filename: str
    size: int
    expires: float


class EmulatorState:
    """All resources of the emulated Fireworks API, across accounts."""

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        storage: Path | None = None,
        failures: PlannedFailures | None = None,
    ) -> None:
        self.config = config or EmulatorConfig()
        self.failures = failures if failures is not None else PlannedFailures()
        self.lock = threading.RLock()
        self._owned_storage = storage is None
        self.storage = storage or Path(tempfile.mkdtemp(prefix="tunesdk-fireworks-emulator-"))
        self.datasets: dict[tuple[str, str], DatasetRecord] = {}
        self.jobs: dict[tuple[JobKind, str, str], JobRecord] = {}
        self.models: dict[tuple[str, str], ModelRecord] = {}
        self.deployments: dict[tuple[str, str], DeploymentRecord] = {}
        self.deployed_models: dict[tuple[str, str], DeployedModelRecord] = {}
        self.uploads: dict[str, SignedUpload] = {}
        self.metrics_links: dict[str, tuple[JobKind, str, str]] = {}
        #: (account, evaluator id) -> the evaluator as created (``evaluatorsV2``)
        self.evaluators: dict[tuple[str, str], dict[str, Any]] = {}
        for row in BASE_MODELS:
            self.models[(LIBRARY_ACCOUNT, row.model_id)] = ModelRecord(
                LIBRARY_ACCOUNT, row.model_id, "HF_BASE_MODEL", context_length=row.context_length
            )

    def close(self) -> None:
        if self._owned_storage:
            shutil.rmtree(self.storage, ignore_errors=True)

    # ---- datasets ---------------------------------------------------------------------------

    def create_dataset(self, account: str, body: dict[str, Any]) -> dict[str, Any]:
        dataset_id = body.get("datasetId")
        spec = body.get("dataset")
        if not isinstance(dataset_id, str) or not is_resource_id(dataset_id):
            raise ApiError(
                400, f"invalid datasetId {dataset_id!r}: use 1-63 characters of a-z, 0-9 and -"
            )
        if not isinstance(spec, dict):
            raise ApiError(400, "missing field 'dataset'")
        with self.lock:
            if (account, dataset_id) in self.datasets:
                raise ApiError(
                    409, f"dataset accounts/{account}/datasets/{dataset_id} already exists"
                )
            count = spec.get("exampleCount")
            record = DatasetRecord(
                account,
                dataset_id,
                str(spec.get("displayName") or dataset_id),
                str(count) if count is not None else None,
            )
            self.datasets[(account, dataset_id)] = record
            return record.to_json()

    def dataset(self, account: str, dataset_id: str) -> DatasetRecord:
        record = self.datasets.get((account, dataset_id))
        if record is None:
            raise ApiError(404, f"dataset accounts/{account}/datasets/{dataset_id} not found")
        return record

    def get_dataset(self, account: str, dataset_id: str) -> dict[str, Any]:
        with self.lock:
            return self.dataset(account, dataset_id).to_json()

    def list_datasets(self, account: str) -> list[dict[str, Any]]:
        with self.lock:
            return [
                r.to_json() for (acct, _), r in sorted(self.datasets.items()) if acct == account
            ]

    def delete_dataset(self, account: str, dataset_id: str) -> dict[str, Any]:
        with self.lock:
            record = self.dataset(account, dataset_id)
            for path in record.files.values():
                path.unlink(missing_ok=True)
            del self.datasets[(account, dataset_id)]
            return {}

    def update_dataset(self, account: str, dataset_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            record = self.dataset(account, dataset_id)
            if "displayName" in body:
                record.display_name = str(body["displayName"])
            return record.to_json()

    def upload_dataset(
        self, account: str, dataset_id: str, filename: str, source: BinaryIO, size: int
    ) -> dict[str, Any]:
        """The single-request ``:upload`` path (files up to 150 MB)."""
        if size > self.config.single_upload_limit:
            raise ApiError(
                400,
                f"{filename} is {size} bytes; :upload takes files up to "
                f"{self.config.single_upload_limit} bytes, use :getUploadEndpoint for larger files",
            )
        with self.lock:
            record = self.dataset(account, dataset_id)
            if record.state == "READY":
                raise ApiError(
                    400, f"dataset {record.name} is already uploaded", code="FAILED_PRECONDITION"
                )
            target = self._dataset_file(account, dataset_id, filename)
        with target.open("wb") as out:
            shutil.copyfileobj(source, out, 1 * MIB)
        with self.lock:
            record.files = {filename: target}
            record.expected = {filename: size}
            self._finish_dataset(record)
            return {
                "id": dataset_id,
                "object": "file",
                "bytes": size,
                "created_at": int(record.created.timestamp()),
                "filename": filename,
                "purpose": "fine-tune",
            }

    def upload_endpoint(
        self, account: str, dataset_id: str, body: dict[str, Any], base_url: str
    ) -> dict[str, Any]:
        sizes = body.get("filenameToSize")
        if not isinstance(sizes, dict) or not sizes:
            raise ApiError(400, "filenameToSize must map each file name to its size in bytes")
        with self.lock:
            record = self.dataset(account, dataset_id)
            if record.state == "READY":
                raise ApiError(
                    400, f"dataset {record.name} is already uploaded", code="FAILED_PRECONDITION"
                )
            urls: dict[str, str] = {}
            expected: dict[str, int] = {}
            for filename, size in sizes.items():
                try:
                    expected[filename] = int(size)
                except (TypeError, ValueError):
                    raise ApiError(
                        400, f"size of {filename!r} is not a whole number: {size!r}"
                    ) from None
                token = secrets.token_urlsafe(16)
                self.uploads[token] = SignedUpload(
                    account,
                    dataset_id,
                    filename,
                    expected[filename],
                    time.time() + SIGNED_URL_TTL_S,
                )
                urls[filename] = f"{base_url}/_signed/datasets/{token}"
            # Like Fireworks, each call replaces the registered file set.
            record.expected = expected
            record.files = {}
            return {"filenameToSignedUrls": urls}

    def signed_upload(self, token: str, declared_range: str | None) -> tuple[SignedUpload, Path]:
        """Check a signed-URL PUT before its body is read; returns where to write it."""
        with self.lock:
            upload = self.uploads.get(token)
            if upload is None or upload.expires < time.time():
                raise ApiError(403, "the signed URL is invalid or expired")
            if declared_range != f"{upload.size},{upload.size}":
                raise ApiError(
                    400,
                    "X-Goog-Content-Length-Range must be '<size>,<size>' with the size given to "
                    f"getUploadEndpoint ({upload.size})",
                )
            self.dataset(upload.account, upload.dataset_id)
            return upload, self._dataset_file(upload.account, upload.dataset_id, upload.filename)

    def finish_signed_upload(
        self, token: str, upload: SignedUpload, path: Path, written: int
    ) -> None:
        with self.lock:
            if written != upload.size:
                path.unlink(missing_ok=True)
                raise ApiError(
                    400, f"received {written} bytes, the signed URL is for {upload.size}"
                )
            record = self.dataset(upload.account, upload.dataset_id)
            record.files[upload.filename] = path
            self.uploads.pop(token, None)

    def validate_upload(self, account: str, dataset_id: str) -> dict[str, Any]:
        with self.lock:
            record = self.dataset(account, dataset_id)
            if record.state == "READY":
                return {}
            missing = sorted(set(record.expected) - set(record.files))
            if not record.expected or missing:
                raise ApiError(
                    400,
                    f"dataset {record.name} is still waiting for files: "
                    f"{', '.join(missing) or 'none registered'}",
                    code="FAILED_PRECONDITION",
                )
            self._finish_dataset(record)
            return {}

    def _finish_dataset(self, record: DatasetRecord) -> None:
        report = validate_files(record.files[name] for name in sorted(record.files))
        if not report.ok:
            record.status = {"code": "INVALID_ARGUMENT", "message": report.summary()}
            raise ApiError(400, f"invalid dataset {record.name}: {report.summary()}")
        record.state, record.kind = "READY", report.kind
        record.examples, record.tokens = report.examples, report.estimated_tokens
        record.status = {"code": "OK", "message": ""}

    def _dataset_file(self, account: str, dataset_id: str, filename: str) -> Path:
        if "/" in filename or "\\" in filename or filename in ("", ".", ".."):
            raise ApiError(400, f"invalid file name {filename!r}")
        folder = self.storage / account / dataset_id
        folder.mkdir(parents=True, exist_ok=True)
        return folder / filename

    # ---- fine-tuning jobs -------------------------------------------------------------------

    def create_job(
        self, kind: JobKind, account: str, job_id: str | None, body: dict[str, Any]
    ) -> dict[str, Any]:
        job_id = job_id or secrets.token_hex(4)
        if not is_resource_id(job_id):
            raise ApiError(400, f"invalid job id {job_id!r}: use 1-63 characters of a-z, 0-9 and -")
        config = body.get("trainingConfig") if kind in ("dpo", "grpo") else body
        if not isinstance(config, dict):
            raise ApiError(400, "missing field 'trainingConfig'")
        with self.lock:
            key = (kind, account, job_id)
            if key in self.jobs:
                raise ApiError(409, f"{self.jobs[key].name} already exists")
            dataset = self._job_dataset(account, body.get("dataset"), "dataset")
            expected_kind = {"dpo": "preference", "grpo": "prompt"}.get(kind, "chat")
            if dataset.kind != expected_kind:
                what = {"dpo": "DPO", "grpo": "reinforcement fine-tuning"}.get(
                    kind, "supervised fine-tuning"
                )
                raise ApiError(
                    400,
                    f"dataset {dataset.name} holds {dataset.kind} examples; a {what} job needs "
                    f"{expected_kind} examples",
                )
            if kind == "grpo":
                self._job_evaluator(account, body.get("evaluator"))
                _check_rft(body)
            if body.get("evaluationDataset"):
                self._job_dataset(account, body["evaluationDataset"], "evaluationDataset")
            base = self._job_base_model(account, config)
            self._check_hyperparameters(kind, config, body, base)
            output_id = str(config.get("outputModel") or job_id)
            output_id = resource_id_of(output_id)
            if not is_resource_id(output_id):
                raise ApiError(
                    400, f"invalid outputModel {output_id!r}: use 1-63 characters of a-z, 0-9 and -"
                )
            if (account, output_id) in self.models or any(
                j.output_model == f"accounts/{account}/models/{output_id}"
                for j in self.jobs.values()
            ):
                raise ApiError(409, f"model accounts/{account}/models/{output_id} already exists")
            epochs = int(config.get("epochs") or 1)
            batch = int(config.get("batchSizeSamples") or self.config.default_batch_samples)
            steps = epochs * max(1, math.ceil(dataset.examples / batch))
            now = time.monotonic()
            failure = self.failures.take()
            record = JobRecord(
                kind=kind,
                account=account,
                job_id=job_id,
                body=dict(body),
                timeline=JobRecord.clock(
                    total_steps=steps,
                    seconds_per_step=self.config.seconds_per_step,
                    phase_s=self.config.phase_s,
                    fail_at_step=failure.at_step if failure else self.config.fail_at_step,
                    seed=self.config.seed,
                    started_at=now,
                ),
                epochs=epochs,
                output_model=f"accounts/{account}/models/{output_id}",
                fail_message=failure.message if failure else None,
            )
            record.body["dataset"] = dataset.name
            if kind == "sft":
                record.body["baseModel"] = base
            self.jobs[key] = record
            return record.to_json(now)

    def _job_evaluator(self, account: str, ref: Any) -> dict[str, Any]:
        if not isinstance(ref, str) or not ref:
            raise ApiError(400, "missing field 'evaluator'")
        parts = ref.split("/")
        owner, evaluator_id = (parts[1], parts[3]) if len(parts) == 4 else (account, ref)
        if len(parts) not in (1, 4) or (len(parts) == 4 and parts[2] != "evaluators"):
            raise ApiError(400, f"evaluator {ref!r} is not an evaluator name")
        found = self.evaluators.get((owner, evaluator_id))
        if found is None:
            raise ApiError(404, f"accounts/{owner}/evaluators/{evaluator_id} not found")
        return found

    # ---- evaluators -------------------------------------------------------------------------

    def create_evaluator(
        self, account: str, evaluator_id: str | None, body: dict[str, Any]
    ) -> dict[str, Any]:
        evaluator_id = evaluator_id or secrets.token_hex(4)
        if not is_resource_id(evaluator_id):
            raise ApiError(400, f"invalid evaluator id {evaluator_id!r}")
        spec = body.get("evaluator")
        if not isinstance(spec, dict):
            raise ApiError(400, "missing field 'evaluator'")
        problems = evaluator_problems(spec)
        if problems:
            raise ApiError(400, "invalid evaluator: " + "; ".join(problems))
        with self.lock:
            key = (account, evaluator_id)
            if key in self.evaluators:
                raise ApiError(409, f"accounts/{account}/evaluators/{evaluator_id} already exists")
            self.evaluators[key] = {
                **spec,
                "name": f"accounts/{account}/evaluators/{evaluator_id}",
                "state": "ACTIVE",
                "createTime": timestamp(datetime.now(UTC)),
            }
            return self.evaluators[key]

    def get_evaluator(self, account: str, evaluator_id: str) -> dict[str, Any]:
        with self.lock:
            return self._job_evaluator(account, evaluator_id)

    def list_evaluators(self, account: str) -> list[dict[str, Any]]:
        with self.lock:
            return [v for (a, _), v in sorted(self.evaluators.items()) if a == account]

    def delete_evaluator(self, account: str, evaluator_id: str) -> dict[str, Any]:
        with self.lock:
            self._job_evaluator(account, evaluator_id)
            del self.evaluators[(account, evaluator_id)]
            return {}

    def _job_dataset(self, account: str, ref: Any, field_name: str) -> DatasetRecord:
        if not isinstance(ref, str) or not ref:
            raise ApiError(400, f"missing field '{field_name}'")
        owner, dataset_id = account, ref
        if ref.startswith("accounts/"):
            parts = ref.split("/")
            if len(parts) != 4 or parts[2] != "datasets":
                raise ApiError(400, f"{field_name} {ref!r} is not a dataset name")
            owner, dataset_id = parts[1], parts[3]
        record = self.dataset(owner, dataset_id)
        if record.state != "READY":
            raise ApiError(
                400,
                f"dataset {record.name} is not ready (state {record.state}); "
                "finish the upload first",
                code="FAILED_PRECONDITION",
            )
        return record

    def _job_base_model(self, account: str, config: dict[str, Any]) -> str:
        base = config.get("baseModel")
        if config.get("warmStartFrom"):
            if base:
                raise ApiError(400, "give only one of baseModel and warmStartFrom")
            base = config["warmStartFrom"]
        if not isinstance(base, str) or not base:
            raise ApiError(400, "missing field 'baseModel'")
        parsed = parse_model_name(base)
        if parsed is None:
            raise ApiError(
                400, f"baseModel {base!r} is not a model name (accounts/<account>/models/<id>)"
            )
        model = self.models.get(parsed)
        if model is None:
            raise ApiError(404, f"Model not found: {base}")
        return model.name

    def _check_hyperparameters(
        self, kind: JobKind, config: dict[str, Any], body: dict[str, Any], base: str
    ) -> None:
        rank = config.get("loraRank")
        if rank is not None and not LORA_RANKS[0] <= int(rank) <= LORA_RANKS[1]:
            raise ApiError(
                400, f"loraRank {rank} is out of range: use {LORA_RANKS[0]}-{LORA_RANKS[1]}"
            )
        epochs = config.get("epochs")
        if epochs is not None and int(epochs) < 1:
            raise ApiError(400, f"epochs must be at least 1, got {epochs}")
        rate = config.get("learningRate")
        if rate is not None and float(rate) <= 0:
            raise ApiError(400, f"learningRate must be positive, got {rate}")
        context = config.get("maxContextLength")
        parsed = parse_model_name(base)
        model = self.models.get(parsed) if parsed else None
        limit = model.context_length if model else None
        if context is not None and limit is not None and int(context) > limit:
            raise ApiError(
                400, f"maxContextLength {context} exceeds {base}'s context length {limit}"
            )
        if kind == "dpo":
            loss = body.get("lossConfig") or {}
            beta = (loss.get("dpo") or {}).get("beta") if isinstance(loss, dict) else None
            if beta is not None and not DPO_BETA[0] < float(beta) < DPO_BETA[1]:
                raise ApiError(400, f"lossConfig.dpo.beta must be > 0 and < 0.5, got {beta}")

    def job(self, kind: JobKind, account: str, job_id: str) -> JobRecord:
        record = self.jobs.get((kind, account, job_id))
        if record is None:
            raise ApiError(404, f"accounts/{account}/{COLLECTIONS[kind]}/{job_id} not found")
        self._settle(record)
        return record

    def _settle(self, record: JobRecord) -> None:
        """Apply a job's side effects once it reaches a terminal state."""
        if record.final_state is not None:
            return
        state, status = record.state_at(time.monotonic())
        if state not in TERMINAL_STATES:
            return
        if state == "JOB_STATE_COMPLETED":
            account, model_id = record.output_model.split("/")[1], record.output_model.split("/")[3]
            config = record.config
            self.models[(account, model_id)] = ModelRecord(
                account,
                model_id,
                "HF_PEFT_ADDON",
                base_model=str(config.get("baseModel")),
                lora_rank=int(config.get("loraRank") or 8),
                fine_tuning_job=record.name,
            )
        record.freeze(state, status)

    def _settle_all(self) -> None:
        for record in self.jobs.values():
            self._settle(record)

    def get_job(self, kind: JobKind, account: str, job_id: str) -> dict[str, Any]:
        with self.lock:
            return self.job(kind, account, job_id).to_json(time.monotonic())

    def list_jobs(self, kind: JobKind, account: str) -> list[dict[str, Any]]:
        with self.lock:
            rows = []
            for (k, acct, _), record in sorted(self.jobs.items()):
                if k == kind and acct == account:
                    self._settle(record)
                    rows.append(record.to_json(time.monotonic()))
            return rows

    def cancel_job(self, kind: JobKind, account: str, job_id: str) -> dict[str, Any]:
        with self.lock:
            record = self.job(kind, account, job_id)
            state, _ = record.state_at(time.monotonic())
            if state in TERMINAL_STATES:
                raise ApiError(
                    400,
                    f"{record.name} is already {state}; only running jobs can be cancelled",
                    code="FAILED_PRECONDITION",
                )
            record.timeline.cancel(time.monotonic())
            return {}

    def delete_job(self, kind: JobKind, account: str, job_id: str) -> dict[str, Any]:
        with self.lock:
            record = self.job(kind, account, job_id)
            del self.jobs[(kind, account, record.job_id)]
            return {}

    def metrics_endpoint(self, account: str, job_id: str, base_url: str) -> dict[str, Any]:
        with self.lock:
            record = self.job("dpo", account, job_id)
            if record.step_at(time.monotonic()) == 0:
                return {}  # no metrics file until the first step is logged
            token = secrets.token_urlsafe(16)
            self.metrics_links[token] = ("dpo", account, record.job_id)
            return {"signedUrl": f"{base_url}/_signed/metrics/{token}"}

    def metrics_file(self, token: str) -> bytes:
        with self.lock:
            key = self.metrics_links.get(token)
            if key is None:
                raise ApiError(403, "the signed URL is invalid or expired")
            return self.job(*key).metrics_text(time.monotonic())

    # ---- models -----------------------------------------------------------------------------

    def get_model(self, account: str, model_id: str) -> dict[str, Any]:
        with self.lock:
            model = self.models.get((account, model_id))
            if model is None:
                raise ApiError(404, f"Model not found: accounts/{account}/models/{model_id}")
            return model.to_json()

    def list_models(self, account: str) -> list[dict[str, Any]]:
        with self.lock:
            self._settle_all()
            return [m.to_json() for (acct, _), m in sorted(self.models.items()) if acct == account]

    # ---- serving ----------------------------------------------------------------------------

    def create_deployment(
        self, account: str, deployment_id: str | None, body: dict[str, Any]
    ) -> dict[str, Any]:
        deployment_id = deployment_id or secrets.token_hex(4)
        if not is_resource_id(deployment_id):
            raise ApiError(400, f"invalid deployment id {deployment_id!r}")
        base = body.get("baseModel")
        with self.lock:
            self._settle_all()
            parsed = parse_model_name(base) if isinstance(base, str) else None
            if parsed is None or parsed not in self.models:
                raise ApiError(404, f"Model not found: {base}")
            if (account, deployment_id) in self.deployments:
                raise ApiError(
                    409, f"deployment accounts/{account}/deployments/{deployment_id} already exists"
                )
            record = DeploymentRecord(
                account,
                deployment_id,
                str(base),
                {k: v for k, v in body.items() if k != "baseModel"},
                ready_at=time.monotonic() + self.config.deploy_s,
            )
            self.deployments[(account, deployment_id)] = record
            return record.to_json(time.monotonic())

    def deployment(self, account: str, deployment_id: str) -> DeploymentRecord:
        record = self.deployments.get((account, deployment_id))
        if record is None:
            raise ApiError(
                404, f"deployment accounts/{account}/deployments/{deployment_id} not found"
            )
        return record

    def get_deployment(self, account: str, deployment_id: str) -> dict[str, Any]:
        with self.lock:
            return self.deployment(account, deployment_id).to_json(time.monotonic())

    def list_deployments(self, account: str) -> list[dict[str, Any]]:
        now = time.monotonic()
        with self.lock:
            return [
                d.to_json(now)
                for (acct, _), d in sorted(self.deployments.items())
                if acct == account
            ]

    def delete_deployment(self, account: str, deployment_id: str) -> dict[str, Any]:
        with self.lock:
            record = self.deployment(account, deployment_id)
            del self.deployments[(account, deployment_id)]
            for key, loaded in list(self.deployed_models.items()):
                if loaded.deployment == record.name:
                    del self.deployed_models[key]
            return {}

    def load_lora(self, account: str, body: dict[str, Any]) -> dict[str, Any]:
        model, deployment = body.get("model"), body.get("deployment")
        with self.lock:
            self._settle_all()
            parsed = parse_model_name(model) if isinstance(model, str) else None
            addon = self.models.get(parsed) if parsed else None
            if addon is None:
                raise ApiError(404, f"Model not found: {model}")
            if addon.kind != "HF_PEFT_ADDON":
                raise ApiError(400, f"{model} is not a LoRA addon")
            if not isinstance(deployment, str) or not deployment.startswith(
                f"accounts/{account}/deployments/"
            ):
                raise ApiError(
                    400,
                    "LoRA models require a dedicated deployment: set 'deployment' to "
                    f"accounts/{account}/deployments/<id>",
                )
            target = self.deployment(account, resource_id_of(deployment))
            if not target.body.get("enableAddons"):
                raise ApiError(400, f"deployment {target.name} was not created with enableAddons")
            if target.base_model != addon.base_model:
                raise ApiError(
                    400,
                    f"{model} is a LoRA of {addon.base_model}, but {target.name} serves "
                    f"{target.base_model}",
                )
            deployed_id = f"{addon.model_id}-{secrets.token_hex(3)}"
            record = DeployedModelRecord(
                account,
                deployed_id,
                addon.name,
                target.name,
                ready_at=time.monotonic() + self.config.deploy_s,
            )
            self.deployed_models[(account, deployed_id)] = record
            return record.to_json(time.monotonic())

    def get_deployed_model(self, account: str, deployed_id: str) -> dict[str, Any]:
        with self.lock:
            record = self.deployed_models.get((account, deployed_id))
            if record is None:
                raise ApiError(
                    404, f"deployed model accounts/{account}/deployedModels/{deployed_id} not found"
                )
            return record.to_json(time.monotonic())

    def list_deployed_models(self, account: str) -> list[dict[str, Any]]:
        now = time.monotonic()
        with self.lock:
            return [
                d.to_json(now)
                for (acct, _), d in sorted(self.deployed_models.items())
                if acct == account
            ]

    def unload_lora(self, account: str, deployed_id: str) -> dict[str, Any]:
        with self.lock:
            if self.deployed_models.pop((account, deployed_id), None) is None:
                raise ApiError(
                    404, f"deployed model accounts/{account}/deployedModels/{deployed_id} not found"
                )
            return {}

    def serving_target(self, model: str) -> str | None:
        """The deployment that answers for ``model`` (``name`` or ``name#deployment``), if any."""
        name, _, deployment = model.partition("#")
        parsed = parse_model_name(name)
        now = time.monotonic()
        with self.lock:
            record = self.models.get(parsed) if parsed else None
            if record is None:
                return None
            if record.kind == "HF_BASE_MODEL" and not deployment:
                return "serverless"
            candidates = self._deployments_serving(record.name, now)
            if deployment:
                return deployment if deployment in candidates else None
            return candidates[0] if candidates else None

    def _deployments_serving(self, model: str, now: float) -> list[str]:
        live_merge = [
            d.name
            for d in self.deployments.values()
            if d.base_model == model and d.state(now) == "READY"
        ]
        addons = [
            m.deployment
            for m in self.deployed_models.values()
            if m.model == model and m.state(now) == "DEPLOYED"
        ]
        return live_merge + addons


def paginate(
    rows: list[dict[str, Any]], page_size: Any, page_token: Any
) -> tuple[list[dict[str, Any]], str]:
    """AIP-158 pagination: page size defaults to 50 and is capped at 200; tokens are opaque."""
    try:
        size = min(int(page_size or 50), 200)
        start = int(page_token or 0)
    except ValueError:
        raise ApiError(400, f"invalid pageSize/pageToken {page_size!r}/{page_token!r}") from None
    if size <= 0 or start < 0:
        raise ApiError(
            400, "pageSize must be positive and pageToken must come from a previous page"
        )
    page = rows[start : start + size]
    return page, str(start + size) if start + size < len(rows) else ""


def apply_filter(rows: Iterable[dict[str, Any]], expression: str | None) -> list[dict[str, Any]]:
    """The equality subset of AIP-160: ``field="value"`` terms joined by ``AND``."""
    rows = list(rows)
    if not expression:
        return rows
    checks: list[Callable[[dict[str, Any]], bool]] = []
    for term in expression.split(" AND "):
        key, sep, value = term.partition("=")
        if not sep:
            raise ApiError(400, f'unsupported filter term {term!r}: use field="value"')
        path = key.strip().split(".")
        wanted = value.strip().strip('"')
        checks.append(functools.partial(_equals, path=path, wanted=wanted))
    return [row for row in rows if all(check(row) for check in checks)]


def _equals(row: dict[str, Any], *, path: list[str], wanted: str) -> bool:
    return str(_dig(row, path)) == wanted


def _dig(row: dict[str, Any], path: list[str]) -> Any:
    node: Any = row
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    return node


__all__ = ["EmulatorConfig", "EmulatorState", "apply_filter", "paginate"]


RFT_LOSS_METHODS = frozenset({"METHOD_UNSPECIFIED", "GRPO", "DAPO", "GSPO_TOKEN"})


def _check_rft(body: dict[str, Any]) -> None:
    """The reinforcement job's own fields, as fireworks-ai's create params type them."""
    loss = body.get("lossConfig") or {}
    if not isinstance(loss, dict):
        raise ApiError(400, "lossConfig must be an object")
    method = loss.get("method", "METHOD_UNSPECIFIED")
    if method not in RFT_LOSS_METHODS:
        raise ApiError(
            400,
            f"lossConfig.method {method!r} is not a reinforcement loss: use one of "
            f"{sorted(RFT_LOSS_METHODS)}",
        )
    beta = loss.get("klBeta")
    if beta is not None and (not isinstance(beta, int | float) or beta < 0):
        raise ApiError(400, f"lossConfig.klBeta must be a number >= 0, got {beta!r}")
    inference = body.get("inferenceParameters") or {}
    if not isinstance(inference, dict):
        raise ApiError(400, "inferenceParameters must be an object")
    for key, low in (("responseCandidatesCount", 1), ("maxOutputTokens", 1)):
        value = inference.get(key)
        if value is not None and (not isinstance(value, int) or value < low):
            raise ApiError(400, f"inferenceParameters.{key} must be an integer >= {low}")
    temperature = inference.get("temperature")
    if temperature is not None and (not isinstance(temperature, int | float) or temperature < 0):
        raise ApiError(400, "inferenceParameters.temperature must be a number >= 0")
