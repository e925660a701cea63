"""The ``together`` backend: tunesdk's managed flow on Together AI, through the official SDK.

``tunesdk.managed.ManagedBackend`` owns the flow (validate → convert → upload → create once → poll);
this class fills in the Together calls:

- upload: ``client.files.upload`` (presigned PUT, or the SDK's multipart upload above 5 GiB), then
  wait until Together's validation of the file finished and refuse an invalid file before create;
- create: ``client.fine_tuning.create`` with the plan's arguments; the suffix carries the run id,
  and ``find_job`` lists jobs and matches it, so a create whose answer was lost is never repeated;
- poll: ``retrieve`` for the status, ``list_events`` + ``list_metrics`` for events;
- results: ``chat``/``generate`` via chat/completions, ``download`` via ``/v1/finetune/download``,
  ``deploy`` via a dedicated endpoint (``POST /v1/endpoints``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from tunesdk.backend import Capabilities, Plan
from tunesdk.errors import DataError, ProviderError, TuneError
from tunesdk.events import Checkpoint, Progress
from tunesdk.managed import ClientCache, ManagedBackend, RemoteJob
from tunesdk.models import LocalModel, Messages, ModelHandle, ProviderModel
from tunesdk_together import download, normalize
from tunesdk_together import plan as request_plan
from tunesdk_together.errors import FIXES, map_error

if TYPE_CHECKING:
    from together import Together

    from tunesdk.events import Event, RunStatus
    from tunesdk.job import Job
    from tunesdk.store import RunRecord

#: how long to wait for Together to finish validating an uploaded file
FILE_PROCESSING_TIMEOUT_S = 600.0
FILE_PENDING = {"PENDING", "QUEUED", "RUNNING"}
TERMINAL_JOB = {"completed", "error", "user_error", "cancelled"}


class TogetherBackend(ManagedBackend):
    """Fine-tune on Together AI (SFT and DPO; LoRA or full)."""

    name = "together"
    provider = "together"
    api_key_env = "TOGETHER_API_KEY"
    data_format = "together"
    sdk_module = "together"
    capabilities = Capabilities(
        objectives=frozenset({"sft", "dpo"}),
        methods=frozenset({"lora", "qlora", "full"}),
        eval=True,
        download=True,
        notes="QLoRA runs as LoRA (Together does not quantize); weights can be downloaded",
        unsupported={
            "prefix": "Together fine-tunes with LoRA or full fine-tuning, not prefix tuning",
            "adapter": "Together fine-tunes with LoRA or full fine-tuning, not bottleneck adapters",
            **{
                objective: f"Together's fine-tuning jobs train SFT or DPO only: it has no {what}"
                for objective, what in (
                    (
                        "grpo",
                        "reinforcement learning (GRPO); its post-training API is a low-level "
                        "training loop, not a fine-tuning job",
                    ),
                    ("kto", "KTO (unpaired preference) training"),
                    ("orpo", "ORPO training"),
                )
            },
        },
    )
    status_map: ClassVar[dict[str, RunStatus]] = {
        "pending": "queued",
        "queued": "queued",
        "running": "running",
        "compressing": "running",
        "uploading": "running",
        "cancel_requested": "running",
        "cancelled": "cancelled",
        "error": "failed",
        "user_error": "failed",
        "completed": "completed",
    }

    error_fixes = FIXES

    def __init__(self) -> None:
        self._clients = ClientCache()
        self._remote: dict[str, Any] = {}

    # ---- planning -----------------------------------------------------------------------------

    def plan(self, job: Job) -> Plan:
        return request_plan.build_plan(job, self.name)

    # ---- client -------------------------------------------------------------------------------

    def resume_job(self, job: Job, checkpoint: Checkpoint) -> Job:
        """A new job from the checkpoint: Together's ``from_checkpoint`` (``JOB_ID:STEP``)."""
        return self.with_options(job, from_checkpoint=checkpoint.provider_id)

    def client(self, job: Job | None = None) -> Together:
        """The official SDK client: key from backend_options or $TOGETHER_API_KEY, base URL from
        backend_options or $TOGETHER_BASE_URL; SDK retries off (tunesdk.managed retries)."""
        from together import Together

        options = self.options(job)
        key = self.api_key(job)
        base_url = options.get("base_url") or os.environ.get("TOGETHER_BASE_URL")
        timeout = float(options.get("timeout", 60.0))
        return self._clients.get(
            key,
            (base_url, timeout),
            lambda: Together(api_key=key, base_url=base_url, max_retries=0, timeout=timeout),
        )

    # ---- the hooks ManagedBackend calls -------------------------------------------------------

    def verify_credentials(self, run: RunRecord) -> None:
        """One authenticated GET (the file list), before any file is sent."""
        self.client(run.job).files.list()

    def upload_file(self, run: RunRecord, path: Path, role: str) -> str:
        """Upload one file. A repeat after a lost answer sends it again: Together deduplicates by
        checksum and answers with the stored file's id, so no second file is made."""
        from together.lib.types.error import FileTypeError

        client = self.client(run.job)
        try:
            uploaded = client.files.upload(file=path, purpose="fine-tune", check=True)
        except FileTypeError as exc:
            raise DataError(
                f"the together SDK refused {path.name}: {exc}",
                where=f"{role} file {path}",
                fix="tunesdk's validation should have caught this; please report it",
            ) from exc
        return self._await_validation(client, uploaded.id, uploaded.processing_status, role)

    def _await_validation(
        self, client: Together, file_id: str, status: str | None, role: str
    ) -> str:
        if status in FILE_PENDING:

            def settled() -> str | None:
                found = client.files.retrieve(file_id).processing_status
                return None if found in FILE_PENDING else str(found)

            status = self.wait_for(
                settled,
                what=f"Together is still validating file {file_id}",
                timeout_s=FILE_PROCESSING_TIMEOUT_S,
                fix="follow the run again later (`tunesdk logs RUN -f`): the launch resumes "
                "from the uploaded file",
                max_delay_s=5.0,
            )
        if status in {"INVALID_FORMAT", "FAILED"}:
            report = self.retrying(lambda: client.files.retrieve(file_id)).validation_report
            reason = getattr(report, "error", None) or status
            raise ProviderError(
                f"Together rejected the {role} file {file_id}: {reason}",
                provider=self.provider,
                code="invalid_file_format",
                fix="fix the data as described; nothing was created",
            )
        return file_id

    def create_job(self, run: RunRecord, file_ids: dict[str, str]) -> str:
        tag = request_plan.run_tag(run.run_id, self.name)
        kwargs = request_plan.create_arguments(run.plan.native, tag=tag, file_ids=file_ids)
        client = self.client(run.job)
        try:
            created = client.fine_tuning.create(**kwargs)
        except ValueError as exc:  # the SDK's own checks against the live model limits
            raise ProviderError(
                f"Together's limits for {kwargs.get('model')} refuse this job: {exc}",
                provider=self.provider,
                code="invalid_request",
                fix="change the option named above and submit again",
            ) from exc
        return str(created.id)

    def find_job(self, run: RunRecord) -> str | None:
        tag = request_plan.run_tag(run.run_id, self.name)
        jobs = self.client(run.job).fine_tuning.list().data
        matches = [
            job
            for job in jobs
            if (job.suffix or "").endswith(tag) or tag in (job.x_model_output_name or "")
        ]
        if not matches:
            return None
        return str(min(matches, key=lambda job: job.created_at).id)

    def fetch_job(self, run: RunRecord) -> RemoteJob:
        job_id = self._job_id(run)
        job = self.client(run.job).fine_tuning.retrieve(job_id)
        self._remote[run.run_id] = job
        status = str(job.status)
        error = None
        if status in {"error", "user_error"}:
            failures = [e for e in job.events or [] if e.type in {"job_error", "job_user_error"}]
            error = failures[-1].message if failures else f"the Together job {job_id} failed"
        return RemoteJob(
            status=status,
            model_id=job.x_model_output_name,
            error=error,
            trained_tokens=job.token_count,
            raw={"total_steps": getattr(job, "total_steps", None)},
        )

    def fetch_events(self, run: RunRecord, cursor: Any) -> tuple[list[Event], Any]:
        job_id = self._job_id(run)
        client = self.client(run.job)
        position = normalize.Cursor.load(cursor)
        provider_events = client.fine_tuning.list_events(job_id).data
        # from the last step seen (inclusive): an eval row may land after its step's train row
        rows = client.fine_tuning.list_metrics(job_id, global_step_from=max(position.step, 1))
        metrics = rows.metrics or []
        remote = self._remote.get(run.run_id)
        total = getattr(remote, "total_steps", None)
        timed = normalize.metric_events(metrics, total)
        for provider_event in provider_events[position.events :]:
            for event in normalize.job_events(job_id, provider_event, self.status_map):
                timed.append((str(provider_event.created_at), event))
        events = _with_eta(normalize.merge(timed), getattr(remote, "progress", None))
        steps = [int(r["train/global_step"]) for r in metrics if "train/global_step" in r]
        after = normalize.Cursor(events=len(provider_events), step=max([position.step, *steps]))
        return events, after.dump()

    def cancel_job(self, run: RunRecord) -> None:
        from together import BadRequestError

        client = self.client(run.job)
        job_id = self._job_id(run)
        try:
            client.fine_tuning.cancel(job_id)
        except BadRequestError:
            if str(client.fine_tuning.retrieve(job_id).status) not in TERMINAL_JOB:
                raise

    def map_error(self, exc: Exception) -> ProviderError | None:
        return map_error(exc)

    def _job_id(self, run: RunRecord) -> str:
        job_id = run.state.get("remote_job_id")
        if not job_id:
            raise TuneError(f"run {run.run_id} has no Together job yet", where="together")
        return str(job_id)

    # ---- the fine-tuned model -----------------------------------------------------------------

    def chat(self, model: ModelHandle, messages: Messages, **generation: Any) -> str:
        """Chat completion on the fine-tuned model (serverless LoRA or a deployed endpoint)."""
        provider_model = self.require_provider(model)
        response = self.retrying(
            lambda: self.client().chat.completions.create(
                model=provider_model.model_id, messages=messages, **generation
            )
        )
        return str(response.choices[0].message.content or "")

    def generate(self, model: ModelHandle, prompt: str, **generation: Any) -> str:
        """Raw completion (no chat template) on the fine-tuned model."""
        provider_model = self.require_provider(model)
        response = self.retrying(
            lambda: self.client().completions.create(
                model=provider_model.model_id, prompt=prompt, **generation
            )
        )
        return str(response.choices[0].text or "")

    def download(
        self, model: ProviderModel, path: Path, *, checkpoint: str | None = None
    ) -> LocalModel:
        """Download the weights into ``path``: the LoRA adapter, or the model of a full fine-tune.

        ``checkpoint`` may be ``"adapter"``, ``"merged"`` or ``"model_output_path"``.
        """
        client = self.client()
        job_id = model.job_id or self._job_for_output(model.model_id)
        job = self.retrying(lambda: client.fine_tuning.retrieve(job_id))
        if job.status != "completed":
            raise TuneError(
                f"the Together job {job_id} is {job.status}; only completed jobs can be downloaded",
                where="download",
                fix="wait for the run to complete",
            )
        lora = getattr(job.training_type, "type", "Lora") == "Lora"
        chosen = checkpoint or ("adapter" if lora else "model_output_path")
        kind = "adapter" if chosen == "adapter" else ("merged" if lora else "full")
        archive = download.temporary_archive(path)
        try:

            def fetch() -> int:
                with client.fine_tuning.with_streaming_response.content(
                    ft_id=job_id,
                    checkpoint=chosen,  # type: ignore[arg-type]
                ) as response:
                    return download.stream_to_file(response, archive)

            self.retrying(fetch)
            download.unpack(archive, path)
        finally:
            archive.unlink(missing_ok=True)
        local = LocalModel(path=str(path.resolve()), kind=kind, base_model=model.base_model)
        local.save_metadata()
        return local

    def deploy(self, model: ProviderModel, **options: Any) -> ProviderModel:
        """Serve the model on a dedicated endpoint and wait until it started.

        Options: ``hardware`` (default ``1x_nvidia_h100_80gb_sxm``),
        ``min_replicas``/``max_replicas`` (default 1), ``display_name``,
        ``inactive_timeout`` (minutes), ``wait`` (default True).
        """
        client = self.client()
        body = {
            "model": model.model_id,
            "hardware": options.get("hardware", "1x_nvidia_h100_80gb_sxm"),
            "autoscaling": {
                "min_replicas": int(options.get("min_replicas", 1)),
                "max_replicas": int(options.get("max_replicas", 1)),
            },
            "display_name": options.get("display_name", f"tunesdk {model.model_id}"),
            "inactive_timeout": options.get("inactive_timeout", 60),
        }
        endpoint = self.retrying(
            lambda: client.post("/v1/endpoints", body=body, cast_to=httpx.Response).json()
        )
        if options.get("wait", True):
            endpoint = self._await_endpoint(client, str(endpoint["id"]))
        return model.model_copy(update={"model_id": str(endpoint["name"])})

    def _await_endpoint(
        self, client: Together, endpoint_id: str, timeout_s: float = 1800
    ) -> dict[str, Any]:
        def started() -> dict[str, Any] | None:
            endpoint: dict[str, Any] = client.get(
                f"/v1/endpoints/{endpoint_id}", cast_to=httpx.Response
            ).json()
            if endpoint.get("state") in {"ERROR", "STOPPED"}:
                raise ProviderError(
                    f"the dedicated endpoint {endpoint_id} is {endpoint.get('state')}",
                    provider=self.provider,
                    fix="check it on https://api.together.ai/endpoints",
                )
            return endpoint if endpoint.get("state") == "STARTED" else None

        return self.wait_for(
            started,
            what=f"the dedicated endpoint {endpoint_id} has not started",
            timeout_s=timeout_s,
            fix="check it on https://api.together.ai/endpoints",
        )

    def _job_for_output(self, model_id: str) -> str:
        jobs = self.retrying(lambda: self.client().fine_tuning.list().data)
        for job in jobs:
            if job.x_model_output_name == model_id:
                return str(job.id)
        raise TuneError(
            f"no Together fine-tuning job produced {model_id}",
            where="download",
            fix="pass a handle from a run's result (it records the job id)",
        )


def _with_eta(events: list[Event], progress: Any) -> list[Event]:
    """Put Together's time-remaining estimate on the newest Progress event."""
    if progress is None or not getattr(progress, "estimate_available", False):
        return events
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        if isinstance(event, Progress):
            events[index] = event.model_copy(update={"eta_s": float(progress.seconds_remaining)})
            break
    return events


__all__ = ["TogetherBackend"]
