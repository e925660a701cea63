"""Error bodies in the shapes Fireworks returns.

The control plane (``/v1/accounts/...``) answers like a gRPC gateway:
``{"code": <google.rpc.Code>, "message": ..., "details": []}``. The inference API answers like
OpenAI: ``{"error": {"object": "error", "type": ..., "code": "NOT_FOUND", "message": ...}}``.
"""

from __future__ import annotations

from typing import Any

from tunesdk.emulation import ProviderError

# HTTP status -> (google.rpc.Code number, name)
GRPC_CODES: dict[int, tuple[int, str]] = {
    400: (3, "INVALID_ARGUMENT"),
    401: (16, "UNAUTHENTICATED"),
    403: (7, "PERMISSION_DENIED"),
    404: (5, "NOT_FOUND"),
    408: (4, "DEADLINE_EXCEEDED"),
    409: (6, "ALREADY_EXISTS"),
    412: (9, "FAILED_PRECONDITION"),
    429: (8, "RESOURCE_EXHAUSTED"),
    499: (1, "CANCELLED"),
    500: (13, "INTERNAL"),
    501: (12, "UNIMPLEMENTED"),
    503: (14, "UNAVAILABLE"),
    504: (4, "DEADLINE_EXCEEDED"),
}


class ApiError(ProviderError):
    """A request the emulated API refuses; ``code`` is the gRPC code name when it differs from the
    one the HTTP status implies (gRPC gateways answer FAILED_PRECONDITION with HTTP 400)."""

    def __init__(self, status: int, message: str, *, code: str | None = None) -> None:
        super().__init__(status, message)
        self.code = code or GRPC_CODES.get(status, (2, "UNKNOWN"))[1]

    def body(self) -> dict[str, Any]:
        """The control-plane shape (inference routes answer `inference_body`)."""
        return control_plane_body(self.status, self.message, self.code)


_CODE_NUMBERS = {name: number for number, name in GRPC_CODES.values()}


def control_plane_body(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    name = code or GRPC_CODES.get(status, (2, "UNKNOWN"))[1]
    return {"code": _CODE_NUMBERS.get(name, 2), "message": message, "details": []}


def inference_body(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    name = code or GRPC_CODES.get(status, (2, "UNKNOWN"))[1]
    kind = "invalid_request_error" if 400 <= status < 500 else "server_error"
    return {"error": {"object": "error", "type": kind, "code": name, "message": message}}


def fault_body(status: int, message: str) -> dict[str, Any]:
    """Body for injected faults (the control-plane shape; tunesdk reads both)."""
    return control_plane_body(status, message)


__all__ = ["GRPC_CODES", "ApiError", "control_plane_body", "fault_body", "inference_body"]
