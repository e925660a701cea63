"""The errors the offline Tinker server answers with.

Raised before a request is queued they become HTTP statuses (the client raises them at once:
``BadRequestError``, ``NotFoundError``); raised while a queued request runs they become a failed
future, which the client raises as ``RequestFailedError`` with the message. Never a 5xx for bad
input: the official client retries 5xx (and 408/409/429) for up to five minutes.
"""

from __future__ import annotations

from typing import Any

from tunesdk.emulation import ProviderError


class TinkerError(ProviderError):
    """A request the server refuses; ``status`` is the HTTP status it answers with."""

    default_status = 400

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(self.default_status if status is None else status, message)

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message)


class BadRequest(TinkerError):
    default_status = 400


class NotFound(TinkerError):
    default_status = 404


class Unauthorized(TinkerError):
    default_status = 401


def error_body(status: int, message: str) -> dict[str, Any]:
    """The JSON body of an error answer (FastAPI's shape, which the real service uses)."""
    return {"detail": message, "status": status}


__all__ = ["BadRequest", "NotFound", "TinkerError", "Unauthorized", "error_body"]
