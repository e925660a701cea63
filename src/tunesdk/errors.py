"""Every error tunesdk raises on purpose.

Each error says *what* went wrong, *where* (a field, a file and line, a backend) and *how to fix it*.
The CLI prints ``str(error)`` as one readable block and exits non-zero, without a traceback.
"""

from __future__ import annotations

from typing import Any


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


class UnsupportedOption(TuneError):
    """A job option the backend cannot honour, raised instead of a warning when ``strict=True``."""

    def __init__(self, backend: str, options: dict[str, str]) -> None:
        self.backend = backend
        self.options = options
        lines = "\n".join(f"  - {name}: {why}" for name, why in options.items())
        super().__init__(
            f"{len(options)} option(s) cannot be honoured:\n{lines}",
            where=f"backend {backend!r}",
            fix="remove these options, choose another backend, or set strict=False to accept "
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


class AuthError(ProviderError):
    """Missing or rejected credentials. The message names the variable to set, never its value."""


class RateLimited(ProviderError):
    """The provider rate-limited us and retries did not get through."""


class QuotaExceeded(ProviderError):
    """The account is out of credit, quota or allowed concurrent jobs."""


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


__all__ = [
    "AuthError",
    "BackendUnavailable",
    "DataError",
    "JobError",
    "ProviderError",
    "QuotaExceeded",
    "RateLimited",
    "RunCancelled",
    "RunFailed",
    "RunNotFound",
    "TuneError",
    "UnsupportedOption",
]
