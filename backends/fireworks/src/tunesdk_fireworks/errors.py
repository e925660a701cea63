"""Fireworks SDK exceptions -> tunesdk ProviderErrors carrying message, status, code and request id.

Fireworks' control plane answers errors as ``{"code": <gRPC code>, "message": ...}``; its
inference API as ``{"error": {"message": ..., "code": ...}}``. Both are read here.
"""

from __future__ import annotations

from typing import Any

from tunesdk.errors import ProviderError
from tunesdk.managed import QUOTA_WORDS, ErrorFixes, classify_status_error

PROVIDER = "fireworks"
GRPC_NAMES = {
    1: "CANCELLED",
    2: "UNKNOWN",
    3: "INVALID_ARGUMENT",
    4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND",
    6: "ALREADY_EXISTS",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION",
    10: "ABORTED",
    11: "OUT_OF_RANGE",
    12: "UNIMPLEMENTED",
    13: "INTERNAL",
    14: "UNAVAILABLE",
    15: "DATA_LOSS",
    16: "UNAUTHENTICATED",
}


def error_details(body: Any) -> tuple[str | None, str | None]:
    """``(message, code)`` from either Fireworks error shape (or a plain string body)."""
    if isinstance(body, dict):
        inner = body.get("error")
        if isinstance(inner, dict):
            return _text(inner.get("message")), _code(inner.get("code") or inner.get("type"))
        if isinstance(inner, str):
            return inner, _code(body.get("code"))
        if "message" in body:
            return _text(body.get("message")), _code(body.get("code"))
    if isinstance(body, str) and body.strip():
        return body.strip()[:500], None
    return None, None


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _code(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return GRPC_NAMES.get(value, str(value))
    return str(value) if value not in (None, "") else None


FIXES = ErrorFixes(
    auth="set FIREWORKS_API_KEY to a valid key "
    "(create one at https://app.fireworks.ai/settings/users/api-keys)",
    denied="check that FIREWORKS_ACCOUNT_ID names the account this API key belongs to",
    quota="add credit or raise the account's quota at "
    "https://app.fireworks.ai/account/billing, or wait for running jobs to finish",
    rate_limited="wait and retry; tunesdk already backed off and retried",
    model="check the model name (accounts/<account>/models/<id>); `firectl model list` lists yours",
    server=None,
)


def map_error(exc: Exception) -> ProviderError | None:
    """The SDK's APIStatusError as the matching tunesdk error; None for anything else."""
    from fireworks import APIStatusError

    if not isinstance(exc, APIStatusError):
        return None
    status = exc.status_code
    message, code = error_details(exc.body)
    message = message or f"HTTP {status} from Fireworks"
    fix = None
    if status == 404 and "not deployed" in message.lower():
        fix = (
            "a fine-tuned Fireworks model answers only from a dedicated deployment: "
            "call model.deploy() first, then chat() on the model it returns"
        )
    return classify_status_error(
        PROVIDER, FIXES, exc, code, message, fix=fix, credit_words=QUOTA_WORDS
    )


__all__ = ["error_details", "map_error"]
