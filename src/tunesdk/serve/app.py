"""`create_app`: the whole server as one Starlette app (route modules + limits + errors)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tunesdk.serve.browser_guard import BrowserGuard
from tunesdk.serve.config import ServeConfig
from tunesdk.serve.context import ServeContext
from tunesdk.serve.errors import ServeError
from tunesdk.serve.limits import BodyLimit


async def _serve_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServeError)
    from tunesdk.serve.job_view import hide_paths

    # a tunesdk error about an uploaded file names the file's path on the server: its id instead
    body = exc.body()
    ctx = getattr(request.app.state, "ctx", None)
    if ctx is not None and isinstance(body["error"].get("message"), str):
        body["error"]["message"] = hide_paths(body["error"]["message"], ctx.files_dir)
    return JSONResponse(body, status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = {404: "Unknown path", 405: "Method not allowed"}.get(exc.status_code, exc.detail)
    error = ServeError(exc.status_code, f"{message}: {request.method} {request.url.path}")
    return JSONResponse(error.body(), status_code=exc.status_code)


async def _unexpected(request: Request, exc: Exception) -> Response:
    # the traceback goes to the server log (uvicorn); the client gets no internals
    error = ServeError(500, "The server had an error processing the request.", type="server_error")
    return JSONResponse(error.body(), status_code=500)


class RequestIds:
    """Stamps every answer with ``x-request-id: req_<32 hex>``, as OpenAI does (the SDK keeps it
    as ``_request_id`` and logs it with errors), so a report can be matched to the server log."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = f"req_{secrets.token_hex(16)}".encode()

        async def stamped(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id)]
            await send(message)

        await self.app(scope, receive, stamped)


def create_app(config: ServeConfig, *, context: ServeContext | None = None) -> Any:
    """The ASGI app of ``tunesdk serve`` for ``config`` (the store is ``config.home``)."""
    from tunesdk.serve import dashboard, native, openai_chat, openai_files, openai_jobs
    from tunesdk.serve.server import quiet_dropped_option_warnings
    from tunesdk.serve.supervisor import Supervisor

    ctx = context or ServeContext(config)
    supervisor = Supervisor(ctx)
    ctx.supervisor = supervisor

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        quiet_dropped_option_warnings()  # the process serves this app: jobs' events say it
        ctx.files.expire_uploads()  # parts of uploads abandoned while the server was down
        supervisor.start()  # follows the runs that had not ended when the server last stopped
        try:
            yield
        finally:
            supervisor.stop()

    routes = [
        *openai_files.routes(ctx),
        *openai_jobs.routes(ctx),
        *openai_chat.routes(ctx),
        *native.routes(ctx),
        *dashboard.routes(ctx),  # last: it serves "/" and the static files
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            ServeError: _serve_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
    )
    app.state.ctx = ctx
    return RequestIds(BrowserGuard(BodyLimit(app, config), config))


__all__ = ["create_app"]
