"""`ServeError`: every refusal the server gives, in OpenAI's error shape.

``{"error": {"message": ..., "type": ..., "param": ..., "code": ...}}`` — what the official
``openai`` SDK turns into ``BadRequestError``, ``NotFoundError`` and the rest, by status code.
"""

from __future__ import annotations

from typing import Any

_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class ServeError(Exception):
    """A refused request: its HTTP status and what the client reads."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type or _TYPES.get(status, "server_error")

    def body(self) -> dict[str, Any]:
        return error_object(self.message, type=self.type, param=self.param, code=self.code)


def error_object(
    message: str, *, type: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """OpenAI's error body, ``{"error": {"message", "type", "param", "code"}}`` (also what the
    OpenAI emulator of tunesdk-openai answers with)."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def bad_request(message: str, *, param: str | None = None, code: str | None = None) -> ServeError:
    """400 naming the field (``param``) that is wrong."""
    return ServeError(400, message, param=param, code=code)


def not_found(kind: str, object_id: str, *, param: str | None = None) -> ServeError:
    """404 for an id that does not exist — or that belongs to another key (never say which)."""
    return ServeError(404, f"No such {kind}: {object_id}", param=param, code=f"{kind}_not_found")


def too_large(what: str, size: int | None, limit: int) -> ServeError:
    """413 for a body or file over its limit, saying the limit and the fix."""
    got = f" ({size} bytes)" if size is not None else ""
    return ServeError(
        413,
        f"{what} is too large{got}: the limit is {limit} bytes. Send large files through the"
        " Uploads API (uploads.create / parts / complete), or start the server with a higher limit.",
        code="request_too_large",
    )


__all__ = ["ServeError", "bad_request", "error_object", "not_found", "too_large"]
