"""Fault injection and the admin routes every provider emulator serves.

`Faults` holds pending failures (status codes with a provider-shaped body, slow responses, dropped
connections, and "commit then drop": the request takes effect but the client never sees the
response, like a create that timed out) and a log of every request. `FaultMiddleware` applies them
in front of a provider's ASGI app and answers the admin routes under ``/_emulator`` (``faults``,
``requests``, and whatever the emulator adds, such as ``settings``). No third-party imports.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ErrorBody = Callable[[int, str], dict[str, Any]]
#: an admin route: (HTTP method, request body) -> (status, JSON answer)
AdminRoute = Callable[[str, bytes], tuple[int, Any]]

ADMIN_PREFIX = "/_emulator"


class Fault(BaseModel):
    """One injected failure, applied to the next ``times`` matching requests."""

    kind: Literal["status", "delay", "drop", "commit_then_drop"] = "status"
    status: int = 500
    method: str | None = Field(None, description="HTTP method to match; None = any")
    path: str | None = Field(
        None, description='path prefix to match ("/x$" = exactly /x); None = any'
    )
    times: int = Field(1, ge=1)
    delay_s: float = Field(0.0, ge=0)
    retry_after: float | None = None
    message: str = "injected fault"

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        if not self.path:
            return True
        if self.path.endswith("$"):  # "$" anchors the end: exact path only
            return path == self.path[:-1]
        return path.startswith(self.path)


@dataclass
class RequestRecord:
    method: str
    path: str
    status: int | None = None
    fault: str | None = None


class Faults:
    """Thread-safe queue of pending faults plus a log of every request the emulator saw."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[Fault] = []
        self.requests: list[RequestRecord] = []

    def add(self, fault: Fault | None = None, **fields: Any) -> Fault:
        fault = fault or Fault(**fields)
        with self._lock:
            self._pending.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The first pending fault matching this request, consuming one of its ``times``."""
        with self._lock:
            for index, fault in enumerate(self._pending):
                if fault.matches(method, path):
                    if fault.times <= 1:
                        del self._pending[index]
                    else:
                        self._pending[index] = fault.model_copy(update={"times": fault.times - 1})
                    return fault
        return None

    def count(self, method: str, path_prefix: str) -> int:
        """How many requests matched ``method`` and ``path_prefix`` (faulted ones included)."""
        return sum(
            1
            for r in list(self.requests)
            if r.method.upper() == method.upper() and r.path.startswith(path_prefix)
        )


def default_error_body(status: int, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "server_error", "code": str(status)}}


class FaultMiddleware:
    """ASGI middleware that applies `Faults` and serves ``/_emulator/faults``, ``/_emulator/requests``
    and the ``admin`` routes it is given."""

    def __init__(
        self,
        app: ASGIApp,
        faults: Faults,
        error_body: ErrorBody = default_error_body,
        admin: Mapping[str, AdminRoute] | None = None,
    ):
        self.app = app
        self.faults = faults
        self.error_body = error_body
        #: extra admin routes by exact path (``/_emulator/settings``, a provider's older paths)
        self.admin = dict(admin or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        if path in self.admin:
            status, payload = self.admin[path](method, await _read_body(receive))
            await _send_json(send, status, payload)
            return
        if path.startswith(ADMIN_PREFIX):
            await self._admin(method, path, receive, send)
            return
        record = RequestRecord(method, path)
        self.faults.requests.append(record)
        fault = self.faults.take(method, path)
        if fault is not None:
            record.fault = fault.kind
        if fault is not None and fault.kind == "delay":
            await asyncio.sleep(fault.delay_s)
        elif fault is not None and fault.kind == "status":
            record.status = fault.status
            headers = [(b"x-request-id", b"req_emulated_fault")]
            if fault.retry_after is not None:
                headers.append((b"retry-after", str(fault.retry_after).encode()))
            await _send_json(
                send, fault.status, self.error_body(fault.status, fault.message), headers
            )
            return
        elif fault is not None and fault.kind == "drop":
            await _drop(send)
            return
        elif fault is not None and fault.kind == "commit_then_drop":
            await self.app(scope, receive, _swallow)
            await _drop(send)
            return

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
            await send(message)

        await self.app(scope, receive, recording_send)

    async def _admin(self, method: str, path: str, receive: Receive, send: Send) -> None:
        if path == f"{ADMIN_PREFIX}/faults" and method == "POST":
            body = await _read_body(receive)
            fault = self.faults.add(Fault.model_validate_json(body or b"{}"))
            await _send_json(send, 200, fault.model_dump())
        elif path == f"{ADMIN_PREFIX}/faults" and method == "DELETE":
            self.faults.clear()
            await _send_json(send, 200, {"cleared": True})
        elif path == f"{ADMIN_PREFIX}/requests" and method == "GET":
            rows = [r.__dict__ for r in list(self.faults.requests)]
            await _send_json(send, 200, {"requests": rows})
        else:
            await _send_json(send, 404, {"error": {"message": f"no admin route {method} {path}"}})


async def _swallow(message: Message) -> None:
    return None


async def _drop(send: Send) -> None:
    # Promise a body, send part of it, then fail: uvicorn closes the socket mid-response and the
    # client sees a broken connection, exactly like a network drop.
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"partial":', "more_body": True})
    raise EmulatedDrop("emulated dropped connection")


class EmulatedDrop(ConnectionAbortedError):
    """Raised inside the app to make uvicorn cut the connection; not logged as an error."""


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _send_json(
    send: Send, status: int, payload: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


__all__ = [
    "ADMIN_PREFIX",
    "ASGIApp",
    "AdminRoute",
    "EmulatedDrop",
    "ErrorBody",
    "Fault",
    "FaultMiddleware",
    "Faults",
    "Receive",
    "RequestRecord",
    "Scope",
    "Send",
    "default_error_body",
]
