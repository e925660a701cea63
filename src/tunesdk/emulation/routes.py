"""The route helper every provider emulator wraps its handlers in (needs starlette).

`ApiRoutes` does what each provider's API does around every call: bearer authentication against
the emulator's accepted keys, an ``x-request-id`` on every answer (and any fixed headers), and
errors in the provider's own shape. Handlers return JSON-able data or a starlette ``Response``,
and raise a `ProviderError` subclass (each provider has one, with its own ``body()``).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tunesdk.emulation.errors import ProviderError

Handler = Callable[[Request], Awaitable[Any]]
Endpoint = Callable[[Request], Awaitable[Response]]


class ApiRoutes:
    """Wraps a provider's handlers: auth, request ids, the provider's error body.

    ``keys`` returns the accepted API keys (None: any non-empty key); ``missing_key`` and
    ``wrong_key`` build the provider's 401 errors; ``key_headers`` are headers that may carry the
    key instead of ``Authorization: Bearer`` (Azure's ``api-key``); ``precheck`` runs before
    authentication (Azure's ``api-version``). Request ids are ``request_id_prefix`` plus
    ``request_id_hex`` random hex digits.
    """

    def __init__(
        self,
        *,
        keys: Callable[[], frozenset[str] | None],
        missing_key: Callable[[], ProviderError],
        wrong_key: Callable[[str], ProviderError],
        request_id_prefix: str = "req_",
        request_id_hex: int = 32,
        headers: Mapping[str, str] | None = None,
        key_headers: Sequence[str] = (),
        precheck: Callable[[Request], None] | None = None,
    ) -> None:
        self.keys = keys
        self.missing_key = missing_key
        self.wrong_key = wrong_key
        self.request_id_prefix = request_id_prefix
        self.request_id_hex = request_id_hex
        self.headers = dict(headers or {})
        self.key_headers = tuple(key_headers)
        self.precheck = precheck

    # ---- pieces -------------------------------------------------------------------------------

    def request_id(self) -> str:
        return (
            self.request_id_prefix
            + secrets.token_hex(self.request_id_hex // 2 + 1)[: self.request_id_hex]
        )

    def response_headers(self) -> dict[str, str]:
        return {"x-request-id": self.request_id(), **self.headers}

    def json(self, payload: Any, status: int = 200) -> JSONResponse:
        """A JSON answer with a request id."""
        return JSONResponse(payload, status_code=status, headers=self.response_headers())

    def error(
        self,
        error: ProviderError,
        error_body: Callable[[ProviderError], dict[str, Any]] | None = None,
    ) -> JSONResponse:
        body = error_body(error) if error_body is not None else error.body()
        return self.json(body, error.status)

    @staticmethod
    def presented_key(request: Request, key_headers: Sequence[str] = ()) -> str:
        """The key a request carries: ``Authorization: Bearer KEY`` or one of ``key_headers``."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        for name in key_headers:
            if request.headers.get(name, "").strip():
                return request.headers[name].strip()
        return ""

    def authorize(self, request: Request) -> None:
        """Raise the provider's 401 for a missing key, or a key that is not accepted."""
        key = self.presented_key(request, self.key_headers)
        if not key:
            raise self.missing_key()
        accepted = self.keys()
        if accepted is not None and not any(secrets.compare_digest(key, k) for k in accepted):
            raise self.wrong_key(key)

    # ---- wrapping -----------------------------------------------------------------------------

    async def answer(
        self,
        request: Request,
        work: Callable[[], Awaitable[Any]],
        *,
        auth: bool = True,
        error_body: Callable[[ProviderError], dict[str, Any]] | None = None,
    ) -> Response:
        """Authorize ``request``, await ``work``, and turn its result or error into an answer."""
        try:
            if self.precheck is not None:
                self.precheck(request)
            if auth:
                self.authorize(request)
            result = await work()
        except ProviderError as exc:
            return self.error(exc, error_body)
        except ClientDisconnect:
            return Response(status_code=499)  # the client gave up before sending its body
        if isinstance(result, Response):
            result.headers.setdefault("x-request-id", self.request_id())
            for name, value in self.headers.items():
                result.headers.setdefault(name, value)
            return result
        return self.json(result)

    def endpoint(
        self,
        handler: Handler,
        *,
        auth: bool = True,
        error_body: Callable[[ProviderError], dict[str, Any]] | None = None,
    ) -> Endpoint:
        """``handler`` as a starlette endpoint (see `answer`)."""

        async def run(request: Request) -> Response:
            return await self.answer(
                request, lambda: handler(request), auth=auth, error_body=error_body
            )

        run.__name__ = getattr(handler, "__name__", "endpoint")
        run.__doc__ = handler.__doc__
        return run

    def route(
        self, path: str, handler: Handler, *, methods: Sequence[str], auth: bool = True
    ) -> Route:
        return Route(path, self.endpoint(handler, auth=auth), methods=list(methods))


__all__ = ["ApiRoutes", "Endpoint", "Handler", "ProviderError"]
