"""OpenAI SDK exceptions as tunesdk errors with the provider's message, status, code and request id.

The message OpenAI sends for a rejected key echoes part of the key ("Incorrect API key provided:
sk-ab***wxyz"), so authentication errors never pass the provider's text through.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from tunesdk.errors import InvalidRequest, ModelNotFound, ProviderError
from tunesdk.managed import ErrorFixes, classify

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


FIXES = ErrorFixes(
    auth="set OPENAI_API_KEY to a valid key for this organization and project "
    "(the key itself is never shown)",
    denied="check that the key in OPENAI_API_KEY belongs to a project allowed to use this",
    quota="add credit or raise the usage limit in the OpenAI organization's billing settings",
    model="check the id and that this key's project can use it",
)


def map_error(exc: Exception, *, key_env: str = "OPENAI_API_KEY") -> ProviderError | None:
    """The tunesdk error for an ``openai`` SDK exception; None for anything else."""
    import openai

    if not isinstance(exc, openai.APIStatusError):
        return None
    status = exc.status_code
    body: dict[str, Any] = exc.body if isinstance(exc.body, dict) else {}
    code = body.get("code") or None
    message = redact(str(body.get("message") or exc.message))
    request = exc.response.request
    fixes = FIXES if key_env == "OPENAI_API_KEY" else _fixes_for(key_env)
    fix: str | None = None
    if status == 401:
        message = "OpenAI rejected the API key" + (f" ({code})" if code else "")
    elif status == 403 and _is_job_create(request.method, str(request.url.path)):
        return FineTuningUnavailable(
            f"OpenAI refused to create the fine-tuning job: {message}",
            fix="OpenAI no longer offers fine-tuning to this organization (new jobs stop for "
            "everyone on 2027-01-06): point the backend at an OpenAI-compatible fine-tuning "
            'server with backend_options={"openai": {"base_url": ...}} or Azure OpenAI '
            '({"azure_endpoint": ..., "api_version": ...}), or run the same Job on another '
            'backend, e.g. job.run(backend="together") or backend="trl"',
            provider=PROVIDER,
            status=status,
            code=code,
            request_id=exc.request_id,
        )
    elif status == 403:
        message = f"OpenAI denied access: {message}"
    elif status == 429 and body.get("type") == "insufficient_quota":
        code = code or "insufficient_quota"
    elif status == 404:
        # OpenAI answers 404 for models (and jobs) this key's project cannot see
        return ModelNotFound(
            message,
            fix=fixes.model,
            provider=PROVIDER,
            status=status,
            code=code,
            request_id=exc.request_id,
        )
    elif 400 <= status < 500:
        fix = _fix_for(body.get("param"))
    return classify(PROVIDER, fixes, status, code, message, request_id=exc.request_id, fix=fix)


def _fixes_for(key_env: str) -> ErrorFixes:
    return replace(
        FIXES,
        auth=f"set {key_env} to a valid key for this organization and project "
        "(the key itself is never shown)",
        denied=f"check that the key in {key_env} belongs to a project allowed to use this",
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
