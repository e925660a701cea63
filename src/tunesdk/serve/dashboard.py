"""The dashboard at ``/``: one static page and its script, a client of the native API.

Everything it shows comes from ``/tunesdk/v1`` (runs, events, the SSE stream, cancel) with the
key the user types in, so the page and its files carry no data and need no key themselves. The
files are package data (``tunesdk/serve/static``), vendored charting library included: no CDN, no
build step, works offline. A strict Content-Security-Policy allows only this server's own scripts,
styles and API, so even an escaping mistake could not run injected script.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from tunesdk.serve.context import ServeContext

STATIC_DIR = Path(__file__).parent / "static"

#: the page loads only its own files and talks only to this server
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none';"
    " frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # revalidate (by ETag) on every load, so a new server version's files are picked up at once
    "Cache-Control": "no-cache",
}


class _StaticFiles(StaticFiles):
    """Starlette's static files with the dashboard's security headers on every answer."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await super().__call__(scope, receive, send_with_headers)


def routes(ctx: ServeContext) -> list[BaseRoute]:
    """``GET /`` (the page) and ``/static/...`` (its script, styles and the vendored uPlot)."""
    index = STATIC_DIR / "index.html"

    async def page(request: Request) -> Response:
        return FileResponse(index, media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS)

    return [
        Route("/", page, methods=["GET", "HEAD"], name="dashboard"),
        Mount("/static", app=_StaticFiles(directory=STATIC_DIR), name="static"),
    ]


__all__ = ["CSP", "STATIC_DIR", "routes"]
