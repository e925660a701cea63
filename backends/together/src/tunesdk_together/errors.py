"""Together SDK exceptions -> tunesdk errors with Together's message, status, code, request id."""

from __future__ import annotations

from tunesdk.errors import ProviderError
from tunesdk.managed import ErrorFixes, classify_status_error

PROVIDER = "together"
KEY_ENV = "TOGETHER_API_KEY"


FIXES = ErrorFixes(
    auth=f"set {KEY_ENV} to a valid Together API key (https://api.together.ai/settings/api-keys)",
    denied="this key's project may not use fine-tuning: check the project's permissions on "
    "api.together.ai",
    quota="add credit at https://api.together.ai/settings/billing",
    rate_limited="wait and retry, or lower the request rate",
)


def map_error(exc: Exception) -> ProviderError | None:
    """The tunesdk error for a ``together`` SDK exception; None for anything else."""
    from together import APIStatusError

    if not isinstance(exc, APIStatusError):
        return None
    message, code = _message_and_code(exc.body, fallback=exc.message)
    fix = _fix_for(exc.status_code, code, message)
    return classify_status_error(PROVIDER, FIXES, exc, code, message, fix=fix)


def _message_and_code(body: object, fallback: str) -> tuple[str, str | None]:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or fallback), _str(error.get("code"))
        if isinstance(body.get("message"), str):
            return str(body["message"]), _str(body.get("code"))
    if isinstance(body, str) and body:
        return body, None
    return fallback, None


def _fix_for(status: int, code: str | None, message: str) -> str | None:
    text = message.lower()
    model_missing = "model" in text and status == 404
    if code in {"model_not_supported", "model_not_available"} or model_missing:
        if "non-serverless" in text or "dedicated endpoint" in text:
            return "deploy the model first: model.deploy() creates a dedicated endpoint"
        return "use a base model Together fine-tunes (docs/backends/together.md lists common ones)"
    if code == "invalid_file_format" or "failed validation" in text:
        return (
            "fix the file as the message says; tunesdk validates locally first, so report the "
            "line to the tunesdk issue tracker if it passed there"
        )
    if status >= 500:
        return "a Together server error: tunesdk retried with backoff; try again later"
    return None


def _str(value: object) -> str | None:
    return None if value is None else str(value)


__all__ = ["map_error"]
