"""Keeps web pages in the user's browser away from a keyless loopback server (an ASGI middleware).

A server without API keys trusts whoever reaches it, which on loopback is the user, but also any
web page the user has open: a page may send a "simple" cross-site POST to
``http://127.0.0.1:8080`` (no preflight; the JSON body as ``text/plain``) and so start or cancel
jobs, and through DNS rebinding (a name of the attacker's that turns into 127.0.0.1) it may read
every answer as if it were same-origin. Without keys, therefore:

- the ``Host`` header must be a loopback name or address (``localhost``, ``127.0.0.1``, ``[::1]``)
  or the bound host: a rebound name arrives with the attacker's host name and gets a 403;
- a request carrying an ``Origin`` (browsers send one with every cross-origin request, and with
  same-origin POST/DELETE) must come from this server itself (same host and port), else 403.

With keys the bearer key is the guard (a browser sends ``Authorization`` cross-site only after a
CORS preflight, which this server never grants) and a proxy may put any host name in front.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from tunesdk.serve.config import ServeConfig, is_loopback
from tunesdk.serve.errors import ServeError

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def _host_name(host_header: str) -> str:
    """``127.0.0.1`` from ``127.0.0.1:8080``, ``::1`` from ``[::1]:8080``."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def refusal(scope: Scope, config: ServeConfig) -> ServeError | None:
    """Why a request to a keyless server looks like it came from a web page; None if it did not."""
    if config.authenticated or scope["type"] not in ("http", "websocket"):
        return None
    headers = {
        name.decode("latin-1"): value.decode("latin-1") for name, value in scope.get("headers", [])
    }
    host = headers.get("host", "")
    name = _host_name(host)
    if not (is_loopback(name) or name == config.host.strip("[]").lower()):
        return ServeError(
            403,
            f"Host {host[:80]!r} is not this server's address: a server without API keys answers"
            " only requests to localhost / 127.0.0.1 (a guard against DNS rebinding). Use"
            " http://127.0.0.1:PORT, or start the server with --api-key.",
            code="host_not_allowed",
        )
    origin = headers.get("origin")
    if origin is not None:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or parts.netloc.lower() != host.strip().lower():
            return ServeError(
                403,
                f"Cross-site request refused (Origin {origin[:80]!r}): a server without API keys"
                " answers only its own dashboard and non-browser clients. Start the server with"
                " --api-key to serve other sites.",
                code="cross_site_request",
            )
    return None


class BrowserGuard:
    """Wraps the app: requests `refusal` names get its 403 in OpenAI's error shape."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], config: ServeConfig):
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = refusal(scope, self.config)
        if error is None:
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})
            return
        await send(
            {
                "type": "http.response.start",
                "status": error.status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(error.body()).encode()})


__all__ = ["BrowserGuard", "refusal"]
