"""Plumbing shared by the provider emulators that the managed backend packages ship.

An emulator is an ASGI app that speaks one provider's REST API. This module gives each of them the
same three things, so none re-implements them:

- `EmulatorServer` serves an ASGI app with uvicorn in a background thread on 127.0.0.1.
- `Faults` and `FaultMiddleware` inject failures (status codes with a provider-shaped
  body, slow responses, dropped connections, and "commit then drop": the request takes effect but the
  client never sees the response, like a create that timed out). Settable from Python or over HTTP
  (``POST /_emulator/faults``), and every request is logged for tests to count.
- `SimulatedTraining` is a deterministic, clock-driven training curve.

Needs the ``emulator`` extra (starlette, uvicorn); importing this module does not import them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ErrorBody = Callable[[int, str], dict[str, Any]]

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
    """ASGI middleware that applies `Faults` and serves ``/_emulator/faults``."""

    def __init__(self, app: ASGIApp, faults: Faults, error_body: ErrorBody = default_error_body):
        self.app = app
        self.faults = faults
        self.error_body = error_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
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


class _HideEmulatedDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, EmulatedDrop)


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


_HIDE_DROPS = _HideEmulatedDrops()


class EmulatorServer:
    """Serve an ASGI app on 127.0.0.1 in a background thread.

    >>> with EmulatorServer(app) as server:
    ...     client = OpenAI(base_url=server.base_url + "/v1", api_key="test")
    """

    def __init__(self, app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

        self.app = app
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", lifespan="off", access_log=False
        )
        self._server = uvicorn.Server(config)
        logging.getLogger("uvicorn.error").addFilter(_HIDE_DROPS)
        self._thread: threading.Thread | None = None
        self.host = host
        self.port = port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> EmulatorServer:
        self._thread = threading.Thread(
            target=self._server.run, name="tunesdk-emulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the emulator did not start within 10 s")
            time.sleep(0.01)
        sockets = [s for server in self._server.servers for s in server.sockets]
        self.port = sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def serve_forever(self) -> None:
        """Run in the foreground (for ``tunesdk-<provider> emulator --port N``)."""
        self._server.run()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class SimulatedTraining:
    """A deterministic training curve driven by the wall clock.

    ``queue_s`` seconds queued, then ``total_steps`` steps of ``seconds_per_step`` each. Losses decay
    smoothly with seeded noise, so two emulated jobs with the same seed report the same numbers.
    """

    total_steps: int
    seconds_per_step: float = 0.05
    queue_s: float = 0.0
    fail_at_step: int | None = None
    seed: int = 0
    initial_loss: float = 2.4
    final_loss: float = 0.6
    started_at: float = field(default_factory=time.monotonic)

    def elapsed(self, now: float | None = None) -> float:
        return (time.monotonic() if now is None else now) - self.started_at

    def step_at(self, now: float | None = None) -> int:
        """Completed steps at ``now`` (capped at total_steps, or at fail_at_step)."""
        running_for = self.elapsed(now) - self.queue_s
        if running_for < 0:
            return 0
        steps = int(running_for / self.seconds_per_step) if self.seconds_per_step > 0 else 10**9
        cap = (
            self.total_steps
            if self.fail_at_step is None
            else min(self.fail_at_step, self.total_steps)
        )
        return min(steps, cap)

    def phase(
        self, now: float | None = None
    ) -> Literal["queued", "running", "failed", "completed"]:
        if self.elapsed(now) < self.queue_s:
            return "queued"
        step = self.step_at(now)
        if self.fail_at_step is not None and step >= self.fail_at_step:
            return "failed"
        return "completed" if step >= self.total_steps else "running"

    def loss(self, step: int) -> float:
        progress = step / max(self.total_steps, 1)
        smooth = self.final_loss + (self.initial_loss - self.final_loss) * math.exp(-3.0 * progress)
        return round(smooth * (1.0 + 0.04 * self._noise(step)), 4)

    def eval_loss(self, step: int) -> float:
        return round(self.loss(step) * 1.08 + 0.02, 4)

    def learning_rate(self, step: int, peak: float, warmup_ratio: float = 0.05) -> float:
        warmup = max(1, int(self.total_steps * warmup_ratio))
        if step < warmup:
            return peak * (step + 1) / warmup
        return peak * max(0.0, (self.total_steps - step) / max(1, self.total_steps - warmup))

    def _noise(self, step: int) -> float:
        digest = hashlib.blake2b(f"{self.seed}:{step}".encode(), digest_size=4).digest()
        return int.from_bytes(digest, "big") / 2**32 * 2 - 1


__all__ = [
    "ADMIN_PREFIX",
    "EmulatorServer",
    "Fault",
    "FaultMiddleware",
    "Faults",
    "RequestRecord",
    "SimulatedTraining",
    "default_error_body",
]
