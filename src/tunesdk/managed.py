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
  carries a ``source_id``, so a crash or a reattach can repeat a fetch but never an event;
- credentials are checked with one cheap authenticated call before any data leaves the machine;
- **a launch cut short resumes**: each step is recorded in the run state before the next starts
  (``upload_attempted`` → ``file_ids`` → ``create_attempted`` → ``remote_job_id``) and the launching
  process holds the run's launch lock while it works. When a poll finds no remote job and nobody
  holds that lock (the submitter was killed while uploading, or before it recorded the id of a job
  it created), the poller finishes the launch from its last recorded step — an upload already
  stored is found, not repeated; a create already sent is found with ``find_job``, not repeated;
- a cancel before any remote job exists ends the run ``cancelled`` at once (a create that may have
  been sent is looked up first, and that job cancelled).

It also holds what every provider would otherwise write again: the HTTP status → error ladder
(`classify`, worded per provider by `ErrorFixes`), `require_provider`, a polling `wait_for`, and
`ClientCache` (SDK clients keyed by a fingerprint of the key, never the key).
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from tunesdk.backend import Backend, Check, validate_job_data
from tunesdk.errors import (
    CONNECTION_ERROR,
    TRANSIENT_STATUS,
    AuthError,
    InvalidRequest,
    ModelNotFound,
    ProviderError,
    QuotaExceeded,
    RateLimited,
    TuneError,
)
from tunesdk.events import (
    TERMINAL_STATUSES,
    Cancelled,
    Checkpoint,
    Completed,
    Event,
    Failed,
    Log,
    RunStatus,
    StatusChanged,
    summarize,
)
from tunesdk.models import ModelHandle, ProviderModel

if TYPE_CHECKING:
    from tunesdk.backend import Plan
    from tunesdk.job import Job
    from tunesdk.store import RunRecord

T = TypeVar("T")

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


def request_url(exc: BaseException) -> str | None:
    """``scheme://host[:port]/path`` of the request a connection error came from (httpx and the
    SDKs built on it keep it as ``.request``), without credentials or query; None if unknown."""
    seen: BaseException | None = exc
    while seen is not None:
        try:
            url = getattr(getattr(seen, "request", None), "url", None)
        except RuntimeError:  # httpx raises when an error carries no request
            url = None
        host = getattr(url, "host", None)
        if host:
            port = getattr(url, "port", None)
            return f"{url.scheme}://{host}{f':{port}' if port else ''}{url.path}"  # type: ignore[union-attr]
        seen = seen.__cause__ or seen.__context__
    return None


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


#: error codes that mean the account is out of credit, whatever the HTTP status
QUOTA_CODES = frozenset({"insufficient_quota", "insufficient_balance"})
#: error codes that mean the model does not exist here or cannot be used, whatever the status
MODEL_CODES = frozenset({"model_not_found", "model_not_supported", "model_not_available"})
#: words in a 429's message that mean exhausted credit, for providers that answer both with 429
#: and no code (OpenAI's rate-limit text mentions billing, so it is not one of them)
QUOTA_WORDS = ("quota", "credit", "billing", "payment", "balance", "concurrent", "spending limit")


@dataclass(frozen=True)
class ErrorFixes:
    """What each rung of the error ladder (`classify`) tells the user to do, in one provider's
    words. ``auth`` and ``denied`` name the variable to set, never its value."""

    auth: str
    denied: str
    quota: str
    rate_limited: str = "wait and retry later, or lower the request rate"
    model: str | None = None
    invalid: str | None = None
    server: str | None = "a server-side error: tunesdk retried with backoff; try again later"


def classify(
    provider: str,
    fixes: ErrorFixes,
    status: int | None,
    code: str | None,
    message: str,
    *,
    request_id: str | None = None,
    fix: str | None = None,
    credit_words: tuple[str, ...] = (),
) -> ProviderError:
    """The tunesdk error for a provider's error answer, the same ladder for every provider.

    401 (or ``UNAUTHENTICATED``) and 403 (or ``PERMISSION_DENIED``) → `AuthError`; 402, a quota
    code, or a 429 whose message has one of ``credit_words`` → `QuotaExceeded`; 429 → `RateLimited`; a model code or a 404 about a
    model → `ModelNotFound`; any other 4xx → `InvalidRequest`; the rest → `ProviderError`. ``fix``
    replaces the rung's fix from ``fixes`` (a provider that knows better for this one answer).
    """
    details: dict[str, Any] = {
        "provider": provider,
        "status": status,
        "code": code,
        "request_id": request_id,
    }
    lowered = message.lower()
    if status == 401 or code == "UNAUTHENTICATED":
        return AuthError(message, fix=fix or fixes.auth, **details)
    if status == 403 or code == "PERMISSION_DENIED":
        return AuthError(message, fix=fix or fixes.denied, **details)
    about_credit = status == 429 and any(word in lowered for word in credit_words)
    if status == 402 or code in QUOTA_CODES or about_credit:
        return QuotaExceeded(message, fix=fix or fixes.quota, **details)
    if status == 429:
        return RateLimited(message, fix=fix or fixes.rate_limited, **details)
    if code in MODEL_CODES or (status == 404 and "model" in lowered):
        return ModelNotFound(message, fix=fix or fixes.model, **details)
    if status is not None and 400 <= status < 500:
        return InvalidRequest(message, fix=fix or fixes.invalid, **details)
    return ProviderError(message, fix=fix or fixes.server, **details)


def classify_status_error(
    provider: str,
    fixes: ErrorFixes,
    exc: Any,
    code: str | None,
    message: str,
    *,
    fix: str | None = None,
    credit_words: tuple[str, ...] = (),
) -> ProviderError:
    """`classify` for an SDK's HTTP status exception: its ``status_code``, and the request id
    from the ``x-request-id`` header of its ``response`` (the together and fireworks SDKs)."""
    return classify(
        provider,
        fixes,
        exc.status_code,
        code,
        message,
        request_id=exc.response.headers.get("x-request-id"),
        fix=fix,
        credit_words=credit_words,
    )


def key_fingerprint(key: str) -> str:
    """A stable stand-in for an API key in cache keys and comparisons (SHA-256, hex)."""
    return hashlib.sha256(key.encode()).hexdigest()


class ClientCache:
    """One SDK client per (key, settings), reused across calls: each holds a connection pool.

    The key enters the cache only as its `key_fingerprint`, so the cache's keys hold no secret.
    """

    def __init__(self) -> None:
        self._clients: dict[tuple[str, Any], Any] = {}
        self._lock = threading.Lock()

    def get(self, key: str, settings: Any, build: Callable[[], T]) -> T:
        """The client for ``key`` and ``settings`` (hashable), built by ``build`` the first time."""
        cache_key = (key_fingerprint(key), settings)
        with self._lock:
            client = self._clients.get(cache_key)
            if client is None:
                client = build()
                self._clients[cache_key] = client
            return cast(T, client)

    def __len__(self) -> int:
        return len(self._clients)

    def __repr__(self) -> str:
        return f"<ClientCache {len(self._clients)} client(s)>"


def wait_until(
    check: Callable[[], T | None],
    *,
    provider: str,
    what: str,
    timeout_s: float,
    fix: str | None = None,
    first_delay_s: float = 0.2,
    max_delay_s: float = 10.0,
) -> T:
    """Call ``check`` until it returns a value that is not None, waiting longer between calls
    (doubling from ``first_delay_s`` to ``max_delay_s``); ProviderError saying ``what`` is still
    pending after ``timeout_s``. ``check`` raises to stop waiting with an error."""
    limit = time.monotonic() + timeout_s
    delay = first_delay_s
    while True:
        found = check()
        if found is not None:
            return found
        if time.monotonic() + delay > limit:
            raise ProviderError(f"{what} after {timeout_s:.0f} s", provider=provider, fix=fix)
        time.sleep(delay)
        delay = min(delay * 2, max_delay_s)


_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "tunesdk_managed_deadline", default=None
)


@contextlib.contextmanager
def deadline(at: float | None) -> Iterator[None]:
    """Within this block, retries give up instead of sleeping past ``at`` (a `time.monotonic`
    value; None = no deadline). Follow loops with a timeout poll inside one, so a provider that is
    down cannot hold them past their deadline by more than one request's own timeout."""
    token = _deadline.set(at)
    try:
        yield
    finally:
        _deadline.reset(token)


def _sleep_before_retry(seconds: float) -> bool:
    """Sleep ``seconds`` before the next attempt; False (no sleep) when that would pass the
    deadline of the enclosing `deadline` block."""
    at = _deadline.get()
    if at is not None and time.monotonic() + seconds >= at:
        return False
    time.sleep(seconds)
    return True


def launch_lease(run: RunRecord, *, wait: bool) -> contextlib.AbstractContextManager[bool]:
    """The run's launch lock: held by the process launching ``run`` for as long as it launches.

    The lock is an ``flock``, so a process that dies releases it: a poller that gets it (``wait``
    False never blocks) knows that no launch of this run is in progress anywhere.
    """
    return run.lease("launch", wait=wait)


def launch_step(state: dict[str, Any]) -> str:
    """The last durable launch step recorded in a managed run's backend state."""
    if state.get("remote_job_id"):
        return "created"
    if state.get("create_attempted"):
        return "create sent"
    if state.get("file_ids"):
        return "uploaded " + ", ".join(sorted(state["file_ids"]))
    if state.get("upload_attempted"):
        return "uploading"
    return "not started"


def _status_source_id(run: RunRecord, provider_status: str) -> str:
    """The ``source_id`` of the StatusChanged for ``provider_status``: ``status:<word>``, with a
    round number after each pause (``status:running@1``), so that a job running again after
    resume gets a StatusChanged of its own. The state is saved before the event is emitted, so a
    poller that stops in between emits the same id again (deduplicated), never a second round."""
    seen = run.state.get("provider_status")
    rounds = int(run.state.get("status_round") or 0)
    if provider_status != seen:
        if seen == "paused":
            rounds += 1
        run.update_state(provider_status=provider_status, status_round=rounds)
    return f"status:{provider_status}" + (f"@{rounds}" if rounds else "")


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
    #: words that make a 429 mean exhausted credit rather than a rate limit (see `classify`)
    credit_words: ClassVar[tuple[str, ...]] = ()
    #: the wording of the error ladder's fixes (see `classify`); providers give their own
    error_fixes: ClassVar[ErrorFixes] = ErrorFixes(
        auth="check the API key (the key itself is never shown)",
        denied="check that this key's account or project may use fine-tuning",
        quota="add credit or raise the account's quota, or wait for running jobs to finish",
        model="check the model id, and that this key may use it",
        invalid="change what the message names and submit again",
    )

    # ---- availability -------------------------------------------------------------------------

    def options(self, job: Job | None) -> dict[str, Any]:
        """This backend's ``backend_options`` from the job."""
        return dict(job.backend_options.get(self.name, {})) if job is not None else {}

    def resume_job(self, job: Job, checkpoint: Checkpoint) -> Job | None:
        """``job`` as a new provider job whose training starts from ``checkpoint`` (a Checkpoint
        event of an earlier run of this backend), for `tunesdk resume`; ``job`` already trains
        only what was left. None (the default): this provider cannot (see tunesdk.provider_resume).
        """
        return None

    def unpause(self, run: RunRecord) -> bool:
        """Ask the provider to go on with ``run``'s paused job (`tunesdk resume` of a paused
        run). False (the default): this provider has no pause, so none of its jobs is paused."""
        return False

    def with_options(self, job: Job, **options: Any) -> Job:
        """``job`` with ``options`` added to this backend's ``backend_options``."""
        merged = {**job.backend_options, self.name: {**self.options(job), **options}}
        return job.with_overrides({"backend_options": merged})

    def api_key(self, job: Job | None = None) -> str:
        """The API key from backend_options or the environment; AuthError naming the variable."""
        key = self.options(job).get("api_key") or os.environ.get(self.api_key_env)
        if not key or key == "***":
            raise AuthError(
                f"no API key for {self.provider}",
                provider=self.provider,
                fix=f"set the {self.api_key_env} environment variable "
                f"(or the job's backend_options.{self.name}.api_key)",
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
        """Convert, check credentials, upload and create, holding the run's launch lease."""
        with launch_lease(run, wait=True):
            self.resume_launch(run)

    def resume_launch(self, run: RunRecord) -> None:
        """The launch from its last recorded step (all of it for a new run). The caller holds the
        launch lease."""
        if run.state.get("remote_job_id") or self._cancelled_before_create(run):
            return
        run.emit(StatusChanged(status="validating", source_id="tunesdk:validating"))
        files = self.write_files(run)
        run.emit(StatusChanged(status="uploading", source_id="tunesdk:uploading"))
        file_ids: dict[str, str] = dict(run.state.get("file_ids", {}))
        if set(files) - set(file_ids):
            self.retrying(lambda: self.verify_credentials(run))  # before any data leaves
        for role, path in files.items():
            if role in file_ids:
                continue
            if self._cancelled_before_create(run):
                return
            file_ids[role] = self.upload_once(run, path, role)
            run.update_state(file_ids=file_ids)
            run.log(f"uploaded {role} file {path.name} as {file_ids[role]}")
        if self._cancelled_before_create(run):
            return
        remote_id = self.create_once(run, file_ids)
        run.emit(
            Log(message=f"created {self.provider} job {remote_id}", source_id="tunesdk:created")
        )
        if run.should_stop():  # cancelled while the create was in flight
            self.retrying(lambda: self.cancel_job(run))

    def upload_once(self, run: RunRecord, path: Path, role: str) -> str:
        """Upload one file, retrying; after an attempt whose answer was lost (or whose process
        died), ask the provider for the file first (``find_upload``) instead of sending it again."""

        def attempt() -> str:
            attempted = list(run.state.get("upload_attempted", []))
            if role in attempted:
                found = self.find_upload(run, path, role)
                if found:
                    run.log(f"found the {role} file {found} uploaded by an earlier attempt")
                    return found
            else:
                run.update_state(upload_attempted=sorted({*attempted, role}))
            return self.upload_file(run, path, role)

        return self.retrying(attempt)

    def _cancelled_before_create(self, run: RunRecord) -> bool:
        """True when a cancel was requested and the launch must stop here: ``Cancelled`` is
        emitted, or (a create was sent and the job exists) that job is cancelled at the provider
        and the next poll reports it."""
        if not run.should_stop():
            return False
        if run.state.get("create_attempted") and not run.state.get("remote_job_id"):
            found = self.retrying(lambda: self.find_job(run))
            if found:
                run.update_state(remote_job_id=found)
        if run.state.get("remote_job_id"):
            self.retrying(lambda: self.cancel_job(run))
            return True
        run.emit(Cancelled())
        return True

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
                if not _sleep_before_retry(self.retry_policy.delay(attempt, retry_after_of(exc))):
                    raise mapped from exc
                continue
            run.update_state(remote_job_id=remote_id)
            return remote_id
        raise last or ProviderError("job creation failed", provider=self.provider)

    def poll(self, run: RunRecord) -> list[Event]:
        """Fetch the status, emit new provider events (history first), then the current status,
        then the terminal event if the job ended. A run with no remote job yet is recovered first
        (see `recover`)."""
        if not run.state.get("remote_job_id"):
            self.recover(run)
            if run.terminal or not run.state.get("remote_job_id"):
                return []
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
                    source_id=_status_source_id(run, remote.status),
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

    def recover(self, run: RunRecord) -> None:
        """Finish the launch of a run whose launching process stopped before the remote job id was
        recorded; nothing when that process is still at work (it holds the launch lease).

        Errors that waiting or another process can cure (no key here, a dropped connection) are
        raised and the run stays as it is; any other refusal ends the run ``failed``, as it would
        have ended the submit.
        """
        with launch_lease(run, wait=False) as mine:
            if not mine or run.terminal or run.state.get("remote_job_id"):
                return
            step = launch_step(run.state)
            run.emit(
                Log(
                    level="warning",
                    message=f"the process that launched this run stopped ({step}); "
                    "resuming the launch here",
                    source_id=f"tunesdk:recover:{step}",
                )
            )
            try:
                self.resume_launch(run)
            except TuneError as exc:
                if isinstance(exc, AuthError) or (isinstance(exc, ProviderError) and exc.transient):
                    raise
                run.emit(Failed(error=exc.message, error_type=type(exc).__name__))

    def cancel(self, run: RunRecord) -> None:
        """Cancel at the provider; with no remote job yet, end the run ``cancelled`` now (the
        launching process, if alive, stops at its next step and does so itself)."""
        run.mark_cancel_requested()
        if run.state.get("remote_job_id"):
            self.retrying(lambda: self.cancel_job(run))
            return
        with launch_lease(run, wait=False) as mine:
            if mine and not run.terminal:
                self._cancelled_before_create(run)

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

    # ---- shared helpers -----------------------------------------------------------------------

    def classify(
        self,
        status: int | None,
        code: str | None,
        message: str,
        *,
        request_id: str | None = None,
        fix: str | None = None,
    ) -> ProviderError:
        """This provider's error for an error answer: `classify` with this class's fixes."""
        return classify(
            self.provider,
            self.error_fixes,
            status,
            code,
            message,
            request_id=request_id,
            fix=fix,
            credit_words=self.credit_words,
        )

    def require_provider(self, model: ModelHandle, *, where: str = "chat") -> ProviderModel:
        """``model`` as a ProviderModel of this backend; TuneError naming the mismatch otherwise."""
        if isinstance(model, ProviderModel):
            return model
        raise TuneError(
            f"the {self.name} backend serves {self.provider} models, not {type(model).__name__}",
            where=where,
            fix="call chat() on the model handle itself: it picks the backend that can serve it",
        )

    def wait_for(
        self,
        check: Callable[[], T | None],
        *,
        what: str,
        timeout_s: float,
        fix: str | None = None,
        first_delay_s: float = 0.2,
        max_delay_s: float = 10.0,
    ) -> T:
        """`wait_until` for this provider, each call of ``check`` retried as `retrying` does."""
        return wait_until(
            lambda: self.retrying(check),
            provider=self.provider,
            what=what,
            timeout_s=timeout_s,
            fix=fix,
            first_delay_s=first_delay_s,
            max_delay_s=max_delay_s,
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
                if not _sleep_before_retry(policy.delay(attempt, retry_after_of(exc))):
                    raise mapped from exc
        raise AssertionError("unreachable")

    def is_transient(self, exc: BaseException, mapped: ProviderError) -> bool:
        """Worth retrying: the mapped error says so, or the connection dropped (credentials and
        exhausted quota never clear by waiting)."""
        if mapped.transient:
            return True
        return is_connection_error(exc) and not isinstance(mapped, AuthError | QuotaExceeded)

    def to_provider_error(self, exc: BaseException) -> ProviderError:
        if isinstance(exc, ProviderError):
            return exc
        mapped = self.map_error(exc) if isinstance(exc, Exception) else None
        if mapped is not None:
            return mapped
        if is_connection_error(exc):
            url = request_url(exc)
            at = f" at {url}" if url else ""
            return ProviderError(
                f"could not reach {self.provider}{at}: {type(exc).__name__}",
                provider=self.provider,
                code=CONNECTION_ERROR,
                fix="check the network and the base URL; the call was retried with backoff",
            )
        return ProviderError(f"{type(exc).__name__}: {exc}", provider=self.provider)

    # ---- hooks each provider implements -------------------------------------------------------

    def verify_credentials(self, run: RunRecord) -> None:
        """One cheap authenticated call (e.g. list files), so a wrong key fails before any upload.
        Raise the SDK's error (mapped by `map_error`) when the provider refuses the key."""

    def upload_file(self, run: RunRecord, path: Path, role: str) -> str:
        """Upload one file (``role`` is "train" or "eval"); return the provider's file id."""
        raise NotImplementedError

    def find_upload(self, run: RunRecord, path: Path, role: str) -> str | None:
        """The id of ``path`` as stored by an earlier attempt whose answer was lost, if the
        provider has it. The default (None) uploads again: right for providers whose upload is
        idempotent (a dataset id chosen by tunesdk, deduplication by checksum)."""
        return None

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
    "MODEL_CODES",
    "QUOTA_CODES",
    "QUOTA_WORDS",
    "TRANSIENT_STATUS",
    "ClientCache",
    "ErrorFixes",
    "ManagedBackend",
    "RemoteJob",
    "RetryPolicy",
    "classify",
    "classify_status_error",
    "deadline",
    "is_connection_error",
    "key_fingerprint",
    "launch_lease",
    "launch_step",
    "retry_after_of",
    "wait_until",
]
