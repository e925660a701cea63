"""Every error tunesdk raises on purpose.

Each error says *what* went wrong, *where* (a field, a file and line, a backend) and *how to fix it*.
The CLI prints ``str(error)`` as one readable block and exits non-zero, without a traceback.

::

    TuneError
    ├── JobError (ValueError)         the job is invalid or impossible
    ├── DataError (ValueError)        the data has problems (``report`` lists each one)
    ├── BackendUnavailable            not installed / cannot run here (``fix`` says what to do)
    ├── UnsupportedOption             an option the backend cannot honour, with ``strict=True``
    ├── ProviderError                 a managed provider refused or failed a request
    │   ├── AuthError                 missing or rejected credentials
    │   ├── RateLimited               429s that retries did not get through
    │   ├── QuotaExceeded             out of credit, quota or concurrent jobs
    │   ├── InvalidRequest            the provider rejected the request (bad parameter or file)
    │   └── ModelNotFound             no such model, or this key cannot use it
    ├── RunFailed                     the run ended ``failed`` (while waiting for its result)
    ├── RunCancelled                  the run ended ``cancelled``
    └── RunNotFound                   no run with that id in the store

Every provider backend raises the same classes, so ``except ts.AuthError`` or
``except ts.ModelNotFound`` works whichever provider ran the job. ``ProviderError.transient`` says
whether waiting and retrying can help (dropped connections, 408/409/425/429/5xx).
"""

from __future__ import annotations

from typing import Any

#: HTTP statuses that clear by waiting: retried with backoff, and never a reason to give up on a run
TRANSIENT_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
#: the ``code`` tunesdk gives a ProviderError for a dropped connection or a timeout
CONNECTION_ERROR = "connection_error"


class TuneError(Exception):
    """Base class of all tunesdk errors."""

    def __init__(self, message: str, *, where: str | None = None, fix: str | None = None) -> None:
        self.message = message
        self.where = where
        self.fix = fix
        super().__init__(self._compose())

    def _compose(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text


class JobError(TuneError, ValueError):
    """The job is invalid or impossible (bad field value, unknown base model, ...)."""


class DataError(TuneError, ValueError):
    """The training or evaluation data has problems; ``report`` lists every one."""

    def __init__(
        self,
        message: str,
        *,
        report: Any = None,
        where: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.report = report
        super().__init__(message, where=where, fix=fix)


class BackendUnavailable(TuneError):
    """The backend is not installed or cannot run on this machine; ``fix`` says what to do."""

    def __init__(self, backend: str, reason: str, *, fix: str | None = None) -> None:
        self.backend = backend
        self.reason = reason
        super().__init__(reason, where=f"backend {backend!r}", fix=fix)


class UnknownBackend(BackendUnavailable):
    """No backend by that name is installed or known: bad input (the CLI exits 2), with the
    closest names in ``suggestions``."""

    def __init__(
        self, backend: str, reason: str, *, suggestions: list[str], fix: str | None = None
    ) -> None:
        self.suggestions = suggestions
        super().__init__(backend, reason, fix=fix)


class UnsupportedOptionWarning(UserWarning):
    """Submitting a job with an option the backend drops (``strict: true`` makes it an error)."""


class UnsupportedOption(TuneError):
    """A job option the backend cannot honour, raised instead of a warning when ``strict=True``."""

    def __init__(self, backend: str, options: dict[str, str]) -> None:
        self.backend = backend
        self.options = options
        lines = "\n".join(f"  - {name}: {why}" for name, why in options.items())
        super().__init__(
            f"{len(options)} option(s) cannot be honoured:\n{lines}",
            where=f"backend {backend!r}",
            fix="remove these options, choose another backend, or set `strict: false` to accept "
            "the plan with warnings",
        )


class ProviderError(TuneError):
    """A managed provider refused or failed a request.

    Carries the provider's own message, HTTP status, error code and request id (for support tickets).
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.provider = provider
        self.status = status
        self.code = code
        self.request_id = request_id
        details = ", ".join(
            part
            for part in (
                f"HTTP {status}" if status else "",
                f"code {code}" if code else "",
                f"request id {request_id}" if request_id else "",
            )
            if part
        )
        where = f"{provider}" + (f" ({details})" if details else "")
        super().__init__(message, where=where, fix=fix)

    @property
    def transient(self) -> bool:
        """True when the same request may succeed later (a dropped connection, a 429 or a 5xx)."""
        return self.code == CONNECTION_ERROR or self.status in TRANSIENT_STATUS


class AuthError(ProviderError):
    """Missing or rejected credentials. The message names the variable to set, never its value."""

    @property
    def transient(self) -> bool:
        return False  # a key does not become valid by waiting


class RateLimited(ProviderError):
    """The provider rate-limited us and retries did not get through."""


class QuotaExceeded(ProviderError):
    """The account is out of credit, quota or allowed concurrent jobs."""

    @property
    def transient(self) -> bool:
        return False  # a 429 for exhausted credit does not clear by waiting


class InvalidRequest(ProviderError):
    """The provider rejected the request itself (a bad parameter, file or state)."""


class ModelNotFound(ProviderError):
    """The model does not exist at the provider, or this key cannot use it."""


class RunFailed(TuneError):
    """A run ended in ``failed``; ``error`` is the one-line reason, details are in the run folder."""

    def __init__(self, run_id: str, error: str, *, fix: str | None = None) -> None:
        self.run_id = run_id
        self.error = error
        super().__init__(error, where=f"run {run_id}", fix=fix)


class RunCancelled(TuneError):
    """A run ended in ``cancelled`` while the caller was waiting for its result."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(
            "the run was cancelled",
            where=f"run {run_id}",
            fix=f"resume it with `tunesdk resume {run_id}` where the backend supports resuming",
        )


class RunNotFound(TuneError):
    """No run with that id in the run store."""

    def __init__(self, run_id: str, home: str) -> None:
        self.run_id = run_id
        super().__init__(
            f"no run {run_id!r} in {home}",
            fix="list runs with `tunesdk runs`, or set TUNESDK_HOME to the store the run was made in",
        )


class AmbiguousRunId(RunNotFound):
    """A run id prefix that matches more than one run; ``matches`` lists them."""

    def __init__(self, prefix: str, matches: list[str], home: str) -> None:
        self.run_id = prefix
        self.matches = matches
        listed = "\n".join(f"  {match}" for match in matches[:20])
        more = f"\n  ... and {len(matches) - 20} more" if len(matches) > 20 else ""
        TuneError.__init__(
            self,
            f"{prefix!r} matches {len(matches)} runs in {home}:\n{listed}{more}",
            fix="give more of the run id (see `tunesdk runs`)",
        )


class RunDamaged(TuneError):
    """A run's files are damaged (unreadable ``state.json``, a garbage line in ``events.jsonl``, a
    missing ``job.json``). Only that run is affected; ``problem`` says what, ``path`` where."""

    def __init__(self, run_id: str, problem: str, *, path: str, fix: str | None = None) -> None:
        self.run_id = run_id
        self.problem = problem
        self.path = path
        super().__init__(
            f"run {run_id} is damaged: {problem}",
            where=path,
            fix=fix
            or f"restore the file from a backup, or delete the run with `tunesdk rm {run_id}`",
        )


class RunStillRunning(TuneError):
    """Refused to delete a run that has not ended."""

    def __init__(self, run_id: str, status: str) -> None:
        self.run_id = run_id
        self.status = status
        super().__init__(
            f"run {run_id} is still {status}, so it was not deleted",
            fix=f"cancel it first (`tunesdk cancel {run_id}`), or force the deletion (--force); "
            f"if its process is gone, `tunesdk status {run_id}` records that it ended",
        )


__all__ = [
    "CONNECTION_ERROR",
    "TRANSIENT_STATUS",
    "AmbiguousRunId",
    "AuthError",
    "BackendUnavailable",
    "DataError",
    "InvalidRequest",
    "JobError",
    "ModelNotFound",
    "ProviderError",
    "QuotaExceeded",
    "RateLimited",
    "RunCancelled",
    "RunDamaged",
    "RunFailed",
    "RunNotFound",
    "RunStillRunning",
    "TuneError",
    "UnknownBackend",
    "UnsupportedOption",
    "UnsupportedOptionWarning",
]
