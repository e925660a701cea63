"""Request size limits, enforced while the body streams in (an ASGI middleware).

A declared ``Content-Length`` over the limit is refused before a byte is read; a chunked body is
counted as it arrives and cut off with the same 413 the moment it passes the limit.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from tunesdk.serve.config import ServeConfig
from tunesdk.serve.errors import ServeError, too_large

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def limit_for(path: str, config: ServeConfig) -> tuple[str, int]:
    """What the body of a request to ``path`` is, and its limit in bytes."""
    if path.rstrip("/") == "/v1/files":
        return "the file", config.max_file_bytes
    if path.startswith("/v1/uploads/") and path.rstrip("/").endswith("/parts"):
        return "the upload part", config.max_part_bytes
    return "the request body", config.max_body_bytes


class _TooLarge(ServeError):
    """Raised from ``receive`` inside the app, so the app's own ServeError handler answers the
    413 (a bare exception there would reach the catch-all 500 handler first)."""

    def __init__(self, what: str, limit: int) -> None:
        error = too_large(what, None, limit)
        super().__init__(error.status, error.message, code=error.code)


class BodyLimit:
    """Wraps the app: bodies over `limit_for` get a 413 in OpenAI's error shape."""

    def __init__(self, app: ASGIApp, config: ServeConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        what, limit = limit_for(scope["path"], self.config)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _answer(send, too_large(what, declared, limit))
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge(what, limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge as exc:
            if not started:
                await _answer(send, exc)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _answer(send: Send, error: ServeError) -> None:
    body = json.dumps(error.body()).encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})


__all__ = ["BodyLimit", "limit_for"]
