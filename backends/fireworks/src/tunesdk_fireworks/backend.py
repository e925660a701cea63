"""The Fireworks AI backend: tunesdk.managed's hooks, implemented with the ``fireworks-ai`` SDK.

One run creates, all named after the run id: the datasets ``<run-id>-train`` (and ``-eval``), the
job ``<run-id>`` (``supervisedFineTuningJobs`` or ``dpoJobs``) and the output model
``<suffix>-<run-id>``. Because the job id is chosen by tunesdk (Fireworks' ``...JobId`` query
parameter), a create whose response was lost is found again by a plain GET, and a repeated create
is refused by Fireworks with ALREADY_EXISTS: one run can never make two jobs.

The SDK import happens inside the methods, so listing backends stays cheap.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from tunesdk.backend import Capabilities, Check, Plan
from tunesdk.errors import AuthError, DataError, JobError, ProviderError
from tunesdk.events import Event, Log
from tunesdk.managed import QUOTA_WORDS, ManagedBackend, RemoteJob
from tunesdk.models import ProviderModel
from tunesdk_fireworks import normalize, serving
from tunesdk_fireworks.client import ACCOUNT_ENV, API_KEY_ENV, ClientCache, settings_from
from tunesdk_fireworks.errors import FIXES, map_error
from tunesdk_fireworks.models import parse_model_name, resolve_base_model
from tunesdk_fireworks.plan import (
    SINGLE_UPLOAD_LIMIT,
    FireworksRequest,
    RunNames,
    build_plan,
    build_request,
    held_out_size,
)
from tunesdk_fireworks.upload import READY_TIMEOUT_S, dataset_ready, upload_dataset

if TYPE_CHECKING:
    from fireworks import Fireworks

    from tunesdk.job import Job
    from tunesdk.models import Messages, ModelHandle
    from tunesdk.store import RunRecord


class FireworksBackend(ManagedBackend):
    """Managed LoRA fine-tuning (supervised and DPO) on Fireworks AI."""

    name = "fireworks"
    provider = "fireworks"
    api_key_env = API_KEY_ENV
    data_format = "fireworks"
    sdk_module = "fireworks"
    status_map = normalize.STATUS_MAP
    capabilities = Capabilities(
        objectives=frozenset({"sft", "dpo", "orpo", "grpo"}),
        methods=frozenset({"lora", "qlora"}),
        eval=True,
        download=False,
        notes="LoRA only (QLoRA runs as LoRA); the result must be deployed before chat()",
        unsupported={
            kind: f"Fireworks fine-tunes LoRA adapters only; {what} is not available"
            for kind, what in (
                ("full", "full fine-tuning"),
                ("prefix", "prefix tuning"),
                ("adapter", "bottleneck adapters"),
            )
        }
        | {
            "kto": "Fireworks has no KTO (unpaired preference) jobs: its jobs are supervised, DPO "
            "and reinforcement fine-tuning",
        },
    )
    #: files above this go through the signed-URL path instead of ``:upload``
    single_request_upload_limit: ClassVar[int] = SINGLE_UPLOAD_LIMIT

    error_fixes = FIXES
    credit_words = QUOTA_WORDS

    def __init__(self) -> None:
        self._clients = ClientCache()
        self._last_job: dict[str, dict[str, Any]] = {}

    # ---- availability and planning ------------------------------------------------------------

    def check(self) -> Check:
        found = super().check()
        if found.usable and not self.options(None).get("account_id"):
            import os

            if not os.environ.get(ACCOUNT_ENV):
                return Check(
                    usable=False,
                    reason=f"{ACCOUNT_ENV} is not set",
                    fix=f"export {ACCOUNT_ENV}=<your account id> (`firectl whoami` prints it)",
                )
        return found

    def plan(self, job: Job) -> Plan:
        return build_plan(job, examples=_examples_if_needed(job))

    def preflight(self, job: Job, plan: Plan) -> None:
        """Data rules, credentials and the W&B key: all checked before anything is uploaded."""
        super().preflight(job, plan)
        _check_eval_split(job, plan)
        settings_from(self.options(job))
        self._check_base_model(job)
        if "wandb" in job.report_to:
            import os

            if not os.environ.get("WANDB_API_KEY"):
                raise AuthError(
                    "report_to includes 'wandb' but WANDB_API_KEY is not set",
                    provider=self.provider,
                    fix="export WANDB_API_KEY=... (Fireworks logs to W&B with it), or remove "
                    "'wandb' from report_to",
                )

    def _check_base_model(self, job: Job) -> None:
        """A passed-through model name must exist before anything is uploaded (one free GET)."""
        from fireworks import NotFoundError

        resolved = resolve_base_model(job.model_for(self.name))
        parsed = parse_model_name(resolved.name)
        if resolved.known is not None or parsed is None:
            return
        account, model_id = parsed
        client = self.client(job)
        try:
            self.retrying(lambda: client.models.get(model_id, account_id=account))
        except ProviderError as exc:
            if not isinstance(exc.__cause__, NotFoundError):
                raise
            raise JobError(
                f"Fireworks has no model {resolved.name} (or this key cannot see it)",
                where="job.model",
                fix="check the name with `firectl model get <name>`; nothing was uploaded",
            ) from None

    # ---- the SDK client -----------------------------------------------------------------------

    def client(self, job: Job | None = None) -> Fireworks:
        """The official SDK client for this job's settings (SDK retries off)."""
        return self._clients.get(settings_from(self.options(job)))

    def names(self, run: RunRecord) -> RunNames:
        return RunNames(settings_from(self.options(run.job)).account_id, run.run_id)

    # ---- managed hooks ------------------------------------------------------------------------

    def write_files(self, run: RunRecord) -> dict[str, Path]:
        if run.plan.objective == "grpo":
            return _write_prompts(run)
        files = super().write_files(run)
        if run.plan.objective in ("dpo", "orpo"):
            files.pop("eval", None)  # preference jobs take no evaluation dataset (see the plan)
        return files

    def verify_credentials(self, run: RunRecord) -> None:
        """One authenticated GET (a page of the account's datasets), before any file is sent."""
        self.client(run.job).datasets.list(page_size=1)

    def upload_file(self, run: RunRecord, path: Path, role: str) -> str:
        """Upload one file into the dataset named after the run: a repeat finishes that dataset."""
        names = self.names(run)
        client = self.client(run.job)
        dataset_id = names.dataset_id(role)
        upload_dataset(
            client,
            dataset_id,
            path,
            display_name=f"tunesdk {run.run_id} {role}",
            single_request_limit=self.single_request_upload_limit,
        )
        return self.wait_for(
            lambda: dataset_ready(client, dataset_id),
            what=f"dataset {dataset_id} is still not READY",
            timeout_s=READY_TIMEOUT_S,
            fix="check the dataset in the Fireworks console, then follow the run again "
            "(`tunesdk logs RUN -f`): the launch resumes with it",
        )

    def request(self, run: RunRecord) -> FireworksRequest:
        """The create request for this run (holds secrets: never log or store it)."""
        return build_request(run.job, self.names(run), examples=_examples_if_needed(run.job))

    def create_job(self, run: RunRecord, file_ids: dict[str, str]) -> str:
        request = self.request(run)
        expected = {"train": request.body["dataset"], "eval": request.body.get("evaluationDataset")}
        for role, name in file_ids.items():
            if expected.get(role) not in (None, name):
                raise ProviderError(
                    f"uploaded {role} dataset {name} is not the one the job names "
                    f"({expected[role]})",
                    provider=self.provider,
                )
        client = self.client(run.job)
        if request.evaluator is not None:
            _create_evaluator(client, request.job_id, request.evaluator)
        jobs = _jobs(client, request.objective)
        id_kwarg = _ID_KWARGS[request.objective]
        kwargs = _sdk_kwargs(jobs.create, request.body)
        kwargs[id_kwarg] = request.job_id
        created = jobs.create(**kwargs)
        return str(created.name)

    def find_job(self, run: RunRecord) -> str | None:
        from fireworks import NotFoundError

        try:
            return str(self._get_job(run).name)
        except NotFoundError:
            return None

    def fetch_job(self, run: RunRecord) -> RemoteJob:
        raw = self._get_job(run).to_dict(mode="json")
        self._last_job[run.run_id] = raw
        return normalize.remote_job(raw, self.names(run).account)

    def fetch_events(self, run: RunRecord, cursor: Any) -> tuple[list[Event], Any]:
        state = dict(cursor) if isinstance(cursor, dict) else {}
        raw = self._last_job.pop(run.run_id, None) or self._get_job(run).to_dict(mode="json")
        events = normalize.status_events(raw, state)
        if run.plan.objective in ("dpo", "orpo"):
            metrics, state = self._dpo_metrics(run, state)
            events.extend(metrics)
        rewards: list[Event] = []
        if run.plan.objective == "grpo":
            rewards = normalize.reward_events(raw)
            steps = [int(getattr(e, "step", 0)) for e in rewards]
            if steps:
                state["last_step"] = max([*steps, int(state.get("last_step", 0))])
            events.extend(rewards)
        later = normalize.job_events(
            raw, self.names(run).account, final_step=state.get("last_step")
        )
        if rewards or state.get("last_step"):
            # steps with rewards, not percent done: one kind of Progress per run
            later = [e for e in later if getattr(e, "percent", None) is None]
        events.extend(later)
        return events, state

    def _dpo_metrics(
        self, run: RunRecord, state: dict[str, Any]
    ) -> tuple[list[Event], dict[str, Any]]:
        import httpx

        client = self.client(run.job)
        endpoint = client.dpo_jobs.get_metrics_file_endpoint(self.names(run).job_id)
        if not endpoint.signed_url:
            return [], state
        offset = int(state.get("metrics_offset", 0))
        with httpx.Client(timeout=60.0) as http:  # a signed URL: no API key
            response = http.get(endpoint.signed_url, headers={"Range": f"bytes={offset}-"})
        if response.status_code == 416:
            return [], state
        response.raise_for_status()
        text = response.content if response.status_code == 206 else response.content[offset:]
        events, consumed = normalize.metrics_events(text)
        steps = [e.step for e in events if hasattr(e, "step")]
        state["metrics_offset"] = offset + consumed
        if steps:
            state["last_step"] = max([*steps, int(state.get("last_step", 0))])
        return events, state

    def cancel_job(self, run: RunRecord) -> None:
        from fireworks import BadRequestError

        client = self.client(run.job)
        jobs = _jobs(client, run.plan.objective)
        try:
            jobs.cancel(self.names(run).job_id, body={})
        except BadRequestError as exc:
            mapped = map_error(exc)
            if mapped is None or mapped.code != "FAILED_PRECONDITION":
                raise
            # Already finished: the next poll reports the final state.
            run.emit(Log(level="warning", message=f"cancel not applied: {mapped.message}"))

    def map_error(self, exc: Exception) -> ProviderError | None:
        return map_error(exc)

    def _get_job(self, run: RunRecord) -> Any:
        client = self.client(run.job)
        return _jobs(client, run.plan.objective).get(self.names(run).job_id)

    # ---- the fine-tuned model -----------------------------------------------------------------

    def chat(self, model: ModelHandle, messages: Messages, **generation: Any) -> str:
        handle = self.require_provider(model)
        return self.retrying(
            lambda: serving.chat(self.client(None), handle, messages, **generation)
        )

    def generate(self, model: ModelHandle, prompt: str, **generation: Any) -> str:
        handle = self.require_provider(model)
        return self.retrying(
            lambda: serving.generate(self.client(None), handle, prompt, **generation)
        )

    def deploy(self, model: ProviderModel, **options: Any) -> ProviderModel:
        """Deploy a fine-tuned model (live merge, or ``deployment=`` to load it as a LoRA)."""
        return serving.deploy(self.client(None), model, **options)


_ID_KWARGS = {
    "sft": "supervised_fine_tuning_job_id",
    "dpo": "dpo_job_id",
    "orpo": "dpo_job_id",
    "grpo": "reinforcement_fine_tuning_job_id",
}


def _jobs(client: Any, objective: str) -> Any:
    """The SDK resource for the objective's job collection."""
    if objective in ("dpo", "orpo"):
        return client.dpo_jobs
    if objective == "grpo":
        return client.reinforcement_fine_tuning_jobs
    return client.supervised_fine_tuning_jobs


def _create_evaluator(client: Any, evaluator_id: str, body: dict[str, Any]) -> None:
    """Create the run's evaluator; one a retried launch already created is reused."""
    from fireworks import ConflictError

    try:
        client.evaluators.create(evaluator=body, evaluator_id=evaluator_id)
    except ConflictError:
        pass  # the same run created it before a crash or retry: its id names this run


def _write_prompts(run: RunRecord) -> dict[str, Path]:
    """Reinforcement data: ``messages`` ending on the user turn plus the reference columns the
    evaluator reads (``evaluate(messages, **row)``)."""
    from tunesdk.data import Dataset

    job = run.job
    train = Dataset.load(job.data)
    evaluation = Dataset.load(job.eval_data) if job.eval_data is not None else None
    if evaluation is None and job.eval_split:
        train, evaluation = train.split(job.eval_split, seed=job.seed)
    files = {"train": _prompt_file(train, run.inputs_dir / "train.jsonl")}
    if evaluation is not None:
        files["eval"] = _prompt_file(evaluation, run.inputs_dir / "eval.jsonl")
    return files


def _prompt_file(data: Any, path: Path) -> Path:
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for record in data:
            messages = [{"role": m.role, "content": m.text} for m in record.messages]
            row = {**dict(record.meta), "messages": messages}
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def _check_eval_split(job: Job, plan: Plan) -> None:
    """Both halves of an ``eval_split`` become Fireworks datasets, so each needs the minimum."""
    if job.eval_split is None or job.eval_data is not None or plan.objective != "sft":
        return
    from tunesdk.data import Dataset
    from tunesdk.data.rules import RULES

    minimum = RULES["fireworks"].min_examples
    total = len(Dataset.load(job.data))
    held_out = held_out_size(total, job.eval_split)
    train = total - held_out
    if train < minimum or held_out < minimum:
        raise DataError(
            f"eval_split={job.eval_split} splits {total} examples into {train} for training and "
            f"{held_out} for evaluation; Fireworks needs at least {minimum} in each dataset",
            where="job.eval_split",
            fix=f"give at least {_smallest_total(job.eval_split, minimum)} examples, change "
            "eval_split, or pass eval_data instead (nothing was uploaded)",
        )


def _smallest_total(eval_split: float, minimum: int) -> int:
    """The fewest examples whose split by ``eval_split`` leaves ``minimum`` in both halves."""
    total = 2 * minimum
    while True:
        held_out = held_out_size(total, eval_split)
        if held_out >= minimum and total - held_out >= minimum:
            return total
        total += 1


def _examples_if_needed(job: Job) -> int | None:
    """The number of training examples, counted only when the warmup conversion needs it."""
    if "warmup_ratio" not in job.options_set():
        return None
    from tunesdk.data import Dataset

    try:
        return len(Dataset.load(job.data))
    except Exception:  # an unreadable source is reported by validation, not here
        return None


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _sdk_kwargs(method: Any, body: dict[str, Any]) -> dict[str, Any]:
    """The REST body as the SDK method's keyword arguments; fields it lacks go in ``extra_body``.

    Nested objects keep their REST (camelCase) keys: the SDK passes keys it has no alias for
    through unchanged, so what is sent is exactly the plan's body.
    """
    params = inspect.signature(method).parameters
    kwargs: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in body.items():
        snake = _snake(key)
        if snake in params and snake not in (
            "extra_body",
            "extra_query",
            "extra_headers",
            "timeout",
        ):
            kwargs[snake] = value
        else:
            extra[key] = value
    if extra:
        kwargs["extra_body"] = extra
    return kwargs


__all__ = ["FireworksBackend"]
