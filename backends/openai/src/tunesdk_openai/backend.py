"""The ``openai`` backend: OpenAI's fine-tuning API, OpenAI-compatible servers and Azure OpenAI.

The flow (validate → convert → upload → create once → poll) belongs to
`tunesdk.managed.ManagedBackend`; this class makes the OpenAI calls with the official SDK.
"""

from __future__ import annotations

import os
import random
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from tunesdk.backend import Capabilities, Check, Plan
from tunesdk.errors import ProviderError
from tunesdk.events import Checkpoint, Event, RunStatus
from tunesdk.managed import ManagedBackend, RemoteJob
from tunesdk_openai import plan as request_plan
from tunesdk_openai import rft
from tunesdk_openai.client import AZURE_KEY_ENV, OPENAI_KEY_ENV, ClientCache, target
from tunesdk_openai.errors import FIXES, InvalidRequest, map_error
from tunesdk_openai.normalize import checkpoint_event, job_event, merge_by_step
from tunesdk_openai.uploads import find_uploaded, upload_jsonl

if TYPE_CHECKING:
    from tunesdk.job import Job
    from tunesdk.models import Messages, ModelHandle
    from tunesdk.store import RunRecord

#: client settings chat() accepts next to the generation arguments
CLIENT_OPTIONS = ("base_url", "api_key", "organization", "project", "azure_endpoint", "api_version")
#: jobs created this long before the run are never the run's own (bounds find_job's search)
_FIND_SLACK_S = 3600


class OpenAIBackend(ManagedBackend):
    """Fine-tune on OpenAI (or any server speaking ``/fine_tuning/jobs``) with the official SDK."""

    name = "openai"
    provider = "openai"
    api_key_env = OPENAI_KEY_ENV
    data_format = "openai"
    sdk_module = "openai"
    capabilities = Capabilities(
        objectives=frozenset({"sft", "dpo", "grpo"}),
        methods=frozenset({"full", "lora"}),
        eval=True,
        pause=True,
        notes="OpenAI picks the training method; new jobs stop on 2027-01-06 (use base_url or "
        "Azure OpenAI after that)",
        unsupported={
            **{
                kind: f"OpenAI chooses how it trains and offers no {what}"
                for kind, what in (
                    ("qlora", "quantized (QLoRA) training"),
                    ("prefix", "prefix tuning"),
                    ("adapter", "bottleneck adapters"),
                )
            },
            **{
                objective: f"OpenAI has no {what}: its methods are supervised, dpo and "
                "reinforcement (objective grpo with graders)"
                for objective, what in (
                    ("kto", "KTO (unpaired preference) fine-tuning"),
                    ("orpo", "ORPO fine-tuning"),
                )
            },
        },
    )
    status_map: ClassVar[dict[str, RunStatus]] = {
        "validating_files": "validating",
        "queued": "queued",
        "running": "running",
        # a paused job waits for resume; provider_status keeps the word "paused"
        "paused": "queued",
        "succeeded": "completed",
        "failed": "failed",
        "cancelled": "cancelled",
    }

    error_fixes = FIXES

    def __init__(self) -> None:
        self._clients = ClientCache()

    # ---- availability and planning ----------------------------------------------------------

    def check(self) -> Check:
        import importlib.util

        if importlib.util.find_spec("openai") is None:
            return Check(
                usable=False,
                reason="the official openai SDK is not installed",
                fix="pip install tunesdk-openai",
            )
        azure = bool(os.environ.get("AZURE_OPENAI_ENDPOINT"))
        env = AZURE_KEY_ENV if azure else OPENAI_KEY_ENV
        if not os.environ.get(env):
            return Check(usable=False, reason=f"{env} is not set", fix=f"export {env}=...")
        from importlib.metadata import version

        return Check(usable=True, versions={"openai": version("openai")})

    def plan(self, job: Job) -> Plan:
        target(request_plan.options_of(job))  # an incomplete Azure setup is a plan-time error
        return request_plan.build_plan(job)

    def resume_job(self, job: Job, checkpoint: Checkpoint) -> Job:
        """A new job that fine-tunes the checkpoint model (``ft:...:ckpt-step-N``): OpenAI
        continues training from a fine-tuned model given as ``model``."""
        ids = dict(getattr(job.model, "ids", {}))
        ids[self.name] = str(checkpoint.provider_id)
        return job.with_overrides({"model": {"name": job.model_name, "ids": ids}})

    def pause(self, run: RunRecord) -> None:
        """``POST /fine_tuning/jobs/{id}/pause``: the job stops and waits, still live, for resume.
        A job found paused already (a retried call whose answer was lost, the dashboard) is no
        error; OpenAI's refusal of any other status is raised as it is."""
        self._act(run, "pause", settled=("paused",))

    def unpause(self, run: RunRecord) -> bool:
        """``POST /fine_tuning/jobs/{id}/resume``: OpenAI goes on with the paused job itself (one
        found going on already is no error)."""
        self._act(run, "resume", settled=("validating_files", "queued", "running"))
        return True

    def _act(self, run: RunRecord, action: str, settled: tuple[str, ...]) -> None:
        """Call ``fine_tuning.jobs.<action>``; a refusal while the job is already ``settled`` (the
        call is not idempotent: a retry after a lost answer is refused) counts as done."""
        jobs = self.client(run.job).fine_tuning.jobs
        job_id = run.state["remote_job_id"]
        try:
            self.retrying(lambda: getattr(jobs, action)(job_id))
        except ProviderError:
            if self.retrying(lambda: jobs.retrieve(job_id)).status not in settled:
                raise

    def client(self, job: Job | None = None, **overrides: Any) -> Any:
        """The official SDK client for this job's target (cached)."""
        options = request_plan.options_of(job) if job is not None else {}
        options.update({k: v for k, v in overrides.items() if v is not None})
        return self._clients.get(options)

    # ---- hooks of ManagedBackend ------------------------------------------------------------

    def verify_credentials(self, run: RunRecord) -> None:
        """One authenticated GET (a page of one fine-tune file), before any file is sent."""
        self.client(run.job).files.list(purpose="fine-tune", limit=1)

    def find_upload(self, run: RunRecord, path: Path, role: str) -> str | None:
        return find_uploaded(self.client(run.job), _filename(run, role), path.stat().st_size)

    def write_files(self, run: RunRecord) -> dict[str, Path]:
        """The provider files; reinforcement jobs in OpenAI's RFT shape (`tunesdk_openai.rft`)."""
        if run.plan.objective != "grpo":
            return super().write_files(run)
        job = run.job
        rows = [row for _, row in rft.rows_of(job.data)]
        held_out: list[Any] | None = None
        if job.eval_data is None and job.eval_split:
            order = list(range(len(rows)))
            random.Random(job.seed).shuffle(order)
            cut = max(1, round(len(rows) * job.eval_split))
            held = set(order[:cut])
            held_out = [row for i, row in enumerate(rows) if i in held]
            rows = [row for i, row in enumerate(rows) if i not in held]
        files = {"train": rft.write_rft(None, run.inputs_dir / "train.jsonl", rows=rows)}
        if job.eval_data is not None:
            files["eval"] = rft.write_rft(job.eval_data, run.inputs_dir / "eval.jsonl")
        elif held_out is not None:
            files["eval"] = rft.write_rft(None, run.inputs_dir / "eval.jsonl", rows=held_out)
        return files

    def upload_file(self, run: RunRecord, path: Path, role: str) -> str:
        client = self.client(run.job)
        options = request_plan.options_of(run.job)
        return upload_jsonl(
            client,
            path,
            _filename(run, role),
            threshold=int(
                options.get("upload_threshold_bytes", request_plan.DEFAULT_UPLOAD_THRESHOLD)
            ),
            part_bytes=int(options.get("upload_part_bytes", request_plan.DEFAULT_PART_BYTES)),
            retrying=self.retrying,
        )

    def create_job(self, run: RunRecord, file_ids: dict[str, str]) -> str:
        objective = run.plan.objective
        names = request_plan.Placeholders(
            training_file=file_ids["train"],
            validation_file=file_ids.get("eval", ""),
            run_id=run.run_id,
        )
        body = request_plan.job_request(run.job, objective, names, with_eval="eval" in file_ids)
        known = (
            "model",
            "training_file",
            "validation_file",
            "method",
            "seed",
            "suffix",
            "metadata",
            "integrations",
        )
        extra = {k: v for k, v in body.items() if k not in known}
        created = self.client(run.job).fine_tuning.jobs.create(
            **{k: v for k, v in body.items() if k in known}, extra_body=extra or None
        )
        return str(created.id)

    def find_job(self, run: RunRecord) -> str | None:
        client = self.client(run.job)
        since = datetime.fromisoformat(run.created_at).timestamp() - _FIND_SLACK_S
        jobs = client.fine_tuning.jobs.list(
            metadata={request_plan.RUN_ID_KEY: run.run_id}, limit=100
        )
        # newest first; check the tag ourselves, since a compatible server may ignore the filter
        for remote in jobs:
            if (remote.metadata or {}).get(request_plan.RUN_ID_KEY) == run.run_id:
                return str(remote.id)
            if remote.created_at < since:
                break
        return None

    def fetch_job(self, run: RunRecord) -> RemoteJob:
        remote = self.client(run.job).fine_tuning.jobs.retrieve(run.state["remote_job_id"])
        n_epochs = _n_epochs(remote)
        if n_epochs and run.state.get("n_epochs") != n_epochs:
            run.update_state(n_epochs=n_epochs)
        error = None
        if remote.error is not None and remote.error.message:
            code = f" ({remote.error.code})" if remote.error.code else ""
            error = f"{remote.error.message}{code}"
        return RemoteJob(
            status=str(remote.status),
            model_id=remote.fine_tuned_model,
            error=error,
            trained_tokens=remote.trained_tokens,
            # the SDK types a multi grader's ``graders`` as one grader while the service keys
            # several by name: dump what was received without pydantic's serializer warnings
            raw=remote.model_dump(mode="json", warnings=False),
        )

    def fetch_events(self, run: RunRecord, cursor: Any) -> tuple[list[Event], Any]:
        client = self.client(run.job)
        job_id = run.state["remote_job_id"]
        # newest first: read back to the last event already delivered, then replay in order
        fresh = []
        for event in client.fine_tuning.jobs.list_events(job_id, limit=100):
            if event.id == cursor:
                break
            fresh.append(event)
        fresh.reverse()
        n_epochs = run.state.get("n_epochs")
        events = [e for item in fresh for e in job_event(item, n_epochs)]
        merged = merge_by_step(events, self._checkpoints(run, client, job_id))
        return merged, (fresh[-1].id if fresh else cursor)

    def _checkpoints(self, run: RunRecord, client: Any, job_id: str) -> list[Checkpoint]:
        if run.state.get("checkpoints_unsupported"):
            return []
        import openai

        try:
            page = client.fine_tuning.jobs.checkpoints.list(job_id, limit=100)
        except openai.NotFoundError:
            run.update_state(
                checkpoints_unsupported=True
            )  # an OpenAI-compatible server without them
            return []
        return [checkpoint_event(c) for c in sorted(page.data, key=lambda c: c.step_number)]

    def cancel_job(self, run: RunRecord) -> None:
        job_id = run.state["remote_job_id"]
        try:
            self.client(run.job).fine_tuning.jobs.cancel(job_id)
        except Exception as exc:
            mapped = self.to_provider_error(exc)
            if isinstance(mapped, InvalidRequest) and self.fetch_job(run).status in {
                "succeeded",
                "failed",
                "cancelled",
            }:
                return  # it ended first; the next poll reports how
            raise mapped from exc

    def map_error(self, exc: Exception) -> ProviderError | None:
        return map_error(exc)

    # ---- the resulting model ----------------------------------------------------------------

    def chat(self, model: ModelHandle, messages: Messages, **generation: Any) -> str:
        """Chat completions on the fine-tuned model. Client settings (``base_url``, ``api_key``,
        ``azure_endpoint``, ``api_version``, ...) may be passed next to generation arguments;
        otherwise the environment's are used."""
        model = self.require_provider(model)
        overrides = {k: generation.pop(k) for k in CLIENT_OPTIONS if k in generation}
        client = self.client(None, **overrides)
        response = self.retrying(
            lambda: client.chat.completions.create(
                model=model.model_id, messages=messages, **generation
            )
        )
        content = response.choices[0].message.content if response.choices else None
        if content is None:
            raise ProviderError(
                f"{model.model_id} returned no text (finish reason "
                f"{response.choices[0].finish_reason if response.choices else 'none'})",
                provider=self.provider,
            )
        return str(content)

    def generate(self, model: ModelHandle, prompt: str, **generation: Any) -> str:
        """OpenAI's fine-tuned models are chat models: the prompt is sent as one user message."""
        return self.chat(model, [{"role": "user", "content": prompt}], **generation)


def _filename(run: RunRecord, role: str) -> str:
    """The name a run's file is uploaded under: an earlier attempt's upload is found by it."""
    return f"{run.run_id}.{role}.jsonl"


def _n_epochs(remote: Any) -> int | None:
    method = getattr(remote, "method", None)
    kind = getattr(method, "type", None)
    detail = getattr(method, kind, None) if isinstance(kind, str) else None
    hyper = getattr(detail, "hyperparameters", None) or getattr(remote, "hyperparameters", None)
    value = getattr(hyper, "n_epochs", None)
    return value if isinstance(value, int) else None


__all__ = ["OpenAIBackend"]
