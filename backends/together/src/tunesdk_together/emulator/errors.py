"""Together's error shape: ``{"error": {"message", "type", "param", "code"}}`` (``ErrorData``)."""

from __future__ import annotations

from typing import Any

from tunesdk.emulation import ProviderError

TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    429: "rate_limit_exceeded",
}


class ApiError(ProviderError):
    """An error the emulator answers with, in Together's ``ErrorData`` shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(status, message)
        self.param = param
        self.code = code
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        return {**self.extra, **error_body(self.status, self.message, self.param, self.code)}


def error_body(
    status: int, message: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """The JSON body Together sends with an error status."""
    kind = TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}
