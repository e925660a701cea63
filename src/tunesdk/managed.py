"""What the managed-provider backends share: validate → convert → upload → create → poll → normalize.

A provider package subclasses `ManagedBackend` and implements the small hooks at the bottom
(upload one file, create/find/fetch/cancel a job, fetch events, map SDK errors). This class owns the
flow and its guarantees:

- data is validated with the provider's rules before anything is uploaded;
- uploads already done (file ids in the run state) are never repeated;
- **one run never creates two remote jobs**: once a create was attempted, every retry first asks the
  provider (``find_job``) whether the job exists, because a timed-out create may have succeeded;
- transient failures (408/409/425/429/5xx, dropped connections, timeouts) are retried with
  exponential backoff and jitter, honouring ``Retry-After``; the SDKs' own retries are turned off
  (``max_retries=0``) so the two layers don't multiply;
- polling emits events itself and only then advances the event cursor, and every provider event
  carries a ``source_id``, so a crash or a reattach can repeat a fetch but never an event.
"""

from __future__ import annotations

import functools
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from tunesdk.backend import Backend, Check, validate_job_data
from tunesdk.errors import AuthError, ProviderError, TuneError
from tunesdk.events import (
    TERMINAL_STATUSES,
    Cancelled,
    Completed,
    Event,
    Failed,
    Log,
    RunStatus,
    StatusChanged,
    summarize,
)
from tunesdk.models import ProviderModel

if TYPE_CHECKING:
    from tunesdk.backend import Plan
    from tunesdk.job import Job
    from tunesdk.store import RunRecord

T = TypeVar("T")

TRANSIENT_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
_CONNECTION_ERROR_NAMES = ("APIConnectionError", "APITimeoutError", "ConnectError", "ReadTimeout")


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter."""

    attempts: int = 6
    first_delay_s: float = 0.5
    max_delay_s: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay_s)
        ceiling = min(self.max_delay_s, self.first_delay_s * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)


@dataclass
class RemoteJob:
    """A provider job's state, as the provider reports it."""

    status: str
    model_id: str | None = None
    error: str | None = None
    trained_tokens: int | None = None
    raw: dict[str, Any] = field(default_factory=dict)


def is_connection_error(exc: BaseException) -> bool:
    """True for dropped connections and timeouts, whichever HTTP/SDK layer raised them."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionError | TimeoutError):
            return True
        if any(name in type(seen).__name__ for name in _CONNECTION_ERROR_NAMES):
            return True
        try:
            import httpx

            if isinstance(seen, httpx.TransportError):
                return True
        except ImportError:  # pragma: no cover - httpx is a core dependency
            pass
        seen = seen.__cause__ or seen.__context__
    return False


def retry_after_of(exc: BaseException) -> float | None:
    """The ``Retry-After`` seconds an HTTP error response asked for, if any."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    value = headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class ManagedBackend(Backend):
    """Base class of the provider backends. See the module docstring for the guarantees."""

    kind = "managed"
    provider: ClassVar[str]
    #: environment variable holding the API key (named in errors, its value never shown)
    api_key_env: ClassVar[str]
    #: the tunesdk.data format the provider's files are written in
    data_format: ClassVar[str]
    #: provider status -> tunesdk status
    status_map: ClassVar[dict[str, RunStatus]]
    #: python module of the official SDK (checked by check())
    sdk_module: ClassVar[str]
    poll_interval = (1.0, 30.0)
    retry_policy: ClassVar[RetryPolicy] = RetryPolicy()

    # ---- availability -------------------------------------------------------------------------

    def options(self, job: Job | None) -> dict[str, Any]:
        """This backend's ``backend_options`` from the job."""
        return dict(job.backend_options.get(self.name, {})) if job is not None else {}

    def api_key(self, job: Job | None = None) -> str:
        """The API key from backend_options or the environment; AuthError naming the variable."""
        key = self.options(job).get("api_key") or os.environ.get(self.api_key_env)
        if not key or key == "***":
            raise AuthError(
                f"no API key for {self.provider}",
                provider=self.provider,
                fix=f"set the {self.api_key_env} environment variable "
                f"(or backend_options={{'{self.name}': {{'api_key': ...}}}})",
            )
        return str(key)

    def check(self) -> Check:
        import importlib.util

        if importlib.util.find_spec(self.sdk_module) is None:
            return Check(
                usable=False,
                reason=f"the official SDK ({self.sdk_module}) is not installed",
                fix=f"pip install tunesdk-{self.name}",
            )
        if not os.environ.get(self.api_key_env):
            return Check(
                usable=False,
                reason=f"{self.api_key_env} is not set",
                fix=f"export {self.api_key_env}=... (or pass backend_options api_key)",
            )
        return Check(usable=True)

    def check_job(self, job: Job) -> Check:
        """SDK installed and a client can be built from the environment or the job's options."""
        import importlib.util

        if importlib.util.find_spec(self.sdk_module) is None:
            return self.check()
        try:
            self.client(job)
        except TuneError as exc:
            return Check(usable=False, reason=exc.message, fix=exc.fix)
        except Exception as exc:  # an SDK refusing to build a client (e.g. no key)
            return Check(usable=False, reason=str(exc), fix=self.check().fix)
        return Check(usable=True)

    def client(self, job: Job | None = None) -> Any:
        """The official SDK client for ``job`` (keys from backend_options or the environment)."""
        raise NotImplementedError

    # ---- the flow -----------------------------------------------------------------------------

    def preflight(self, job: Job, plan: Plan) -> None:
        """Validate train and eval data with this provider's rules; nothing is uploaded yet."""
        validate_job_data(job, self.provider, rules=self.name)

    def launch(self, run: RunRecord) -> None:
        run.emit(StatusChanged(status="validating", source_id="tunesdk:validating"))
        files = self.write_files(run)
        run.emit(StatusChanged(status="uploading", source_id="tunesdk:uploading"))
        file_ids: dict[str, str] = dict(run.state.get("file_ids", {}))
        for role, path in files.items():
            if role in file_ids:
                continue
            file_ids[role] = self.retrying(functools.partial(self.upload_file, run, path, role))
            run.update_state(file_ids=file_ids)
            run.log(f"uploaded {role} file {path.name} as {file_ids[role]}")
        remote_id = self.create_once(run, file_ids)
        run.log(f"created {self.provider} job {remote_id}")

    def write_files(self, run: RunRecord) -> dict[str, Path]:
        """Convert the job's data into the provider's format in the run folder."""
        from tunesdk.data import Dataset

        job = run.job
        train = Dataset.load(job.data)
        evaluation = Dataset.load(job.eval_data) if job.eval_data is not None else None
        if evaluation is None and job.eval_split:
            train, evaluation = train.split(job.eval_split, seed=job.seed)
        files = {"train": train.to(self.data_format, run.inputs_dir / "train.jsonl")}
        if evaluation is not None:
            files["eval"] = evaluation.to(self.data_format, run.inputs_dir / "eval.jsonl")
        return files

    def create_once(self, run: RunRecord, file_ids: dict[str, str]) -> str:
        """Create the remote job exactly once, reconciling after any failed attempt."""
        existing = run.state.get("remote_job_id")
        if existing:
            return str(existing)
        last: ProviderError | None = None
        for attempt in range(self.retry_policy.attempts):
            if run.state.get("create_attempted"):
                found = self.retrying(lambda: self.find_job(run))
                if found:
                    run.update_state(remote_job_id=found)
                    run.log(f"found the {self.provider} job {found} created by an earlier attempt")
                    return found
            run.update_state(create_attempted=True)
            try:
                remote_id = self.create_job(run, file_ids)
            except TuneError:
                raise
            except Exception as exc:
                mapped = self.to_provider_error(exc)
                if not self.is_transient(exc, mapped) or attempt == self.retry_policy.attempts - 1:
                    raise mapped from exc
                last = mapped
                time.sleep(self.retry_policy.delay(attempt, retry_after_of(exc)))
                continue
            run.update_state(remote_job_id=remote_id)
            return remote_id
        raise last or ProviderError("job creation failed", provider=self.provider)

    def poll(self, run: RunRecord) -> list[Event]:
        """Fetch the status, emit new provider events (history first), then the current status,
        then the terminal event if the job ended."""
        remote = self.retrying(lambda: self.fetch_job(run))
        status = self.status_map.get(remote.status)
        if status is None:
            run.emit(
                Log(
                    level="warning",
                    message=f"unknown {self.provider} status {remote.status!r}",
                    source_id=f"unknown-status:{remote.status}",
                )
            )
            status = "running"
        cursor = run.state.get("event_cursor")
        events, next_cursor = self.retrying(lambda: self.fetch_events(run, cursor))
        for event in events:
            run.emit(event)
        if next_cursor != cursor:
            run.update_state(event_cursor=next_cursor)
        if status not in TERMINAL_STATUSES:
            run.emit(
                StatusChanged(
                    status=status,
                    provider_status=remote.status,
                    source_id=f"status:{remote.status}",
                )
            )
        if status == "completed":
            run.emit(
                Completed(model=self.model_handle(run, remote), metrics=summarize(run.events()))
            )
        elif status == "failed":
            error = remote.error or f"the {self.provider} job failed"
            run.emit(Failed(error=error, error_type="ProviderError"))
        elif status == "cancelled":
            run.emit(Cancelled())
        return []

    def cancel(self, run: RunRecord) -> None:
        run.mark_cancel_requested()
        if run.state.get("remote_job_id"):
            self.retrying(lambda: self.cancel_job(run))

    def model_handle(self, run: RunRecord, remote: RemoteJob) -> ProviderModel:
        if not remote.model_id:
            raise ProviderError(
                "the job succeeded but reported no fine-tuned model id", provider=self.provider
            )
        return ProviderModel(
            provider=self.name,
            model_id=remote.model_id,
            base_model=run.job.model_for(self.name),
            job_id=run.state.get("remote_job_id"),
        )

    # ---- retries and errors -------------------------------------------------------------------

    def retrying(self, call: Callable[[], T]) -> T:
        """Run an idempotent call, retrying transient failures; raise a ProviderError otherwise."""
        policy = self.retry_policy
        for attempt in range(policy.attempts):
            try:
                return call()
            except TuneError:
                raise
            except Exception as exc:
                mapped = self.to_provider_error(exc)
                if not self.is_transient(exc, mapped) or attempt == policy.attempts - 1:
                    raise mapped from exc
                time.sleep(policy.delay(attempt, retry_after_of(exc)))
        raise AssertionError("unreachable")

    def is_transient(self, exc: BaseException, mapped: ProviderError) -> bool:
        return mapped.status in TRANSIENT_STATUS or is_connection_error(exc)

    def to_provider_error(self, exc: BaseException) -> ProviderError:
        if isinstance(exc, ProviderError):
            return exc
        mapped = self.map_error(exc) if isinstance(exc, Exception) else None
        if mapped is not None:
            return mapped
        if is_connection_error(exc):
            return ProviderError(
                f"could not reach {self.provider}: {type(exc).__name__}",
                provider=self.provider,
                code="connection_error",
                fix="check the network and the base URL; the call was retried with backoff",
            )
        return ProviderError(f"{type(exc).__name__}: {exc}", provider=self.provider)

    # ---- hooks each provider implements -------------------------------------------------------

    def upload_file(self, run: RunRecord, path: Path, role: str) -> str:
        """Upload one file (``role`` is "train" or "eval"); return the provider's file id."""
        raise NotImplementedError

    def create_job(self, run: RunRecord, file_ids: dict[str, str]) -> str:
        """Create the fine-tuning job, tagged with ``run.run_id``; return the remote job id."""
        raise NotImplementedError

    def find_job(self, run: RunRecord) -> str | None:
        """The remote job an earlier attempt created for ``run.run_id``, if any."""
        raise NotImplementedError

    def fetch_job(self, run: RunRecord) -> RemoteJob:
        """The remote job's current status."""
        raise NotImplementedError

    def fetch_events(self, run: RunRecord, cursor: Any) -> tuple[list[Event], Any]:
        """Events after ``cursor`` (each with a stable ``source_id``) and the next cursor."""
        raise NotImplementedError

    def cancel_job(self, run: RunRecord) -> None:
        raise NotImplementedError

    def map_error(self, exc: Exception) -> ProviderError | None:
        """The SDK's exception as a tunesdk ProviderError (AuthError, RateLimited, ...), or None."""
        return None


__all__ = [
    "TRANSIENT_STATUS",
    "ManagedBackend",
    "RemoteJob",
    "RetryPolicy",
    "is_connection_error",
    "retry_after_of",
]
