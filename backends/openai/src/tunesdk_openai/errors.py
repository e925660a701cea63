"""OpenAI SDK exceptions as tunesdk errors with the provider's message, status, code and request id.

The message OpenAI sends for a rejected key echoes part of the key ("Incorrect API key provided:
sk-ab***wxyz"), so authentication errors never pass the provider's text through.
"""

from __future__ import annotations

import re
from typing import Any

from tunesdk.errors import (
    AuthError,
    InvalidRequest,
    ModelNotFound,
    ProviderError,
    QuotaExceeded,
    RateLimited,
)

PROVIDER = "openai"
_KEY_LIKE = re.compile(r"\b(sk-[A-Za-z0-9_*\-]{4,}|[A-Za-z0-9]{32,})")


class FineTuningUnavailable(ProviderError):
    """OpenAI refuses to create fine-tuning jobs for this organization.

    OpenAI stopped new fine-tuning jobs for organizations without fine-tuning history in May 2026,
    for inactive ones in July 2026, and stops them for everyone on 2027-01-06.
    """


def redact(text: str) -> str:
    """``text`` without anything that looks like an API key."""
    return _KEY_LIKE.sub("***", text)


def map_error(exc: Exception, *, key_env: str = "OPENAI_API_KEY") -> ProviderError | None:
    """The tunesdk error for an ``openai`` SDK exception; None for anything else."""
    import openai

    if not isinstance(exc, openai.APIStatusError):
        return None
    status = exc.status_code
    body: dict[str, Any] = exc.body if isinstance(exc.body, dict) else {}
    code = body.get("code") or None
    message = redact(str(body.get("message") or exc.message))
    details = {"provider": PROVIDER, "status": status, "code": code, "request_id": exc.request_id}
    request = exc.response.request
    if status == 401:
        return AuthError(
            "OpenAI rejected the API key" + (f" ({code})" if code else ""),
            fix=f"set {key_env} to a valid key for this organization and project "
            "(the key itself is never shown)",
            **details,
        )
    if status == 403 and _is_job_create(request.method, str(request.url.path)):
        return FineTuningUnavailable(
            f"OpenAI refused to create the fine-tuning job: {message}",
            fix="OpenAI no longer offers fine-tuning to this organization (new jobs stop for "
            "everyone on 2027-01-06): point the backend at an OpenAI-compatible fine-tuning "
            'server with backend_options={"openai": {"base_url": ...}} or Azure OpenAI '
            '({"azure_endpoint": ..., "api_version": ...}), or run the same Job on another '
            'backend, e.g. job.run(backend="together") or backend="trl"',
            **details,
        )
    if status == 403:
        return AuthError(
            f"OpenAI denied access: {message}",
            fix=f"check that the key in {key_env} belongs to a project allowed to use this",
            **details,
        )
    if status == 429 and (code == "insufficient_quota" or body.get("type") == "insufficient_quota"):
        return QuotaExceeded(
            message,
            fix="add credit or raise the usage limit in the OpenAI organization's billing settings",
            **details,
        )
    if status == 429:
        return RateLimited(
            message, fix="wait and retry later, or lower the request rate", **details
        )
    if status == 404:
        return ModelNotFound(
            message, fix="check the id and that this key's project can use it", **details
        )
    if 400 <= status < 500:
        return InvalidRequest(message, fix=_fix_for(body.get("param")), **details)
    return ProviderError(
        message, fix="a server-side error: retried with backoff; try again later", **details
    )


def _is_job_create(method: str, path: str) -> bool:
    return method.upper() == "POST" and path.rstrip("/").endswith("/fine_tuning/jobs")


def _fix_for(param: Any) -> str | None:
    if param in ("training_file", "validation_file"):
        return f"fix the {param.replace('_', ' ')}; tunesdk checks data locally before uploading"
    if param == "model":
        return "choose a model OpenAI fine-tunes (see docs/backends/openai.md)"
    return f"check the request parameter {param!r}" if param else None


__all__ = ["FineTuningUnavailable", "InvalidRequest", "ModelNotFound", "map_error", "redact"]
