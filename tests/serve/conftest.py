"""Fixtures for the ``tunesdk serve`` tests: the real app under uvicorn on a free port.

- ``serve_home``: a private ``$TUNESDK_HOME`` (and ``HF_HUB_OFFLINE=1``) for one test
- ``start_server(**config)``: start the app (lifespan on: the supervisor follows runs) with
  `ServeConfig` fields given as keywords (``api_keys={"k1"}``, ``default_backend="together"``,
  ``max_file_bytes=...``); stopped when the test ends. Returns a `ServeServer`.
- ``server``: ``start_server()`` with the defaults (no keys, backend ``trl``)
- ``serve_kit``: the same at any scope: ``with serve_kit.running(home, **config) as server:``
  (for module-scoped servers; set ``TUNESDK_HOME`` yourself, e.g. with ``pytest.MonkeyPatch.context``)

A `ServeServer` has ``base_url`` (``http://127.0.0.1:PORT``), ``openai_url`` (``.../v1``),
``ctx`` (the `ServeContext`), ``config``, ``openai(api_key=...)`` (the official SDK pointed at it,
no retries) and ``http(api_key=...)`` (an ``httpx.Client`` on ``base_url``).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest


@dataclasses.dataclass
class ServeServer:
    """A running ``tunesdk serve`` app in a thread of the test process."""

    config: Any
    ctx: Any
    app: Any
    host: str
    port: int
    _server: Any = dataclasses.field(repr=False)
    _thread: threading.Thread = dataclasses.field(repr=False)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_url(self) -> str:
        return self.base_url + "/v1"

    def openai(self, api_key: str = "no-key-needed", **options: Any) -> Any:
        """The official ``openai`` client, unchanged, pointed at this server."""
        import openai

        options.setdefault("max_retries", 0)
        options.setdefault("timeout", 60)
        return openai.OpenAI(base_url=self.openai_url, api_key=api_key, **options)

    def http(self, api_key: str | None = None, **options: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        options.setdefault("timeout", 60)
        return httpx.Client(base_url=self.base_url, headers=headers, **options)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)


class ServeKit:
    """Starts the app with lifespan on (unlike `EmulatorServer`): the supervisor must run."""

    @contextmanager
    def running(self, home: Path | None = None, **config: Any) -> Iterator[ServeServer]:
        import uvicorn

        from tunesdk.serve.app import create_app
        from tunesdk.serve.config import ServeConfig
        from tunesdk.serve.context import ServeContext

        config.setdefault("port", 0)
        if "api_keys" in config:
            config["api_keys"] = frozenset(config["api_keys"])
        serve_config = ServeConfig(home=home, **config)
        serve_config.check_bind()
        ctx = ServeContext(serve_config)
        app = create_app(serve_config, context=ctx)
        uv = uvicorn.Server(
            uvicorn.Config(
                app,
                host=serve_config.host,
                port=serve_config.port,
                log_level="warning",
                lifespan="on",
                access_log=False,
            )
        )
        thread = threading.Thread(target=uv.run, name="tunesdk-serve-test", daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not uv.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("tunesdk serve did not start within 15 s")
            time.sleep(0.01)
        port = next(s for srv in uv.servers for s in srv.sockets).getsockname()[1]
        server = ServeServer(serve_config, ctx, app, serve_config.host, port, uv, thread)
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session")
def serve_kit() -> ServeKit:
    return ServeKit()


@pytest.fixture
def serve_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private run store for one test (``$TUNESDK_HOME``), offline hub."""
    home = tmp_path / "home"
    monkeypatch.setenv("TUNESDK_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


@pytest.fixture
def start_server(serve_home: Path, serve_kit: ServeKit) -> Iterator[Callable[..., ServeServer]]:
    """``start_server(**config)``: a running server over ``serve_home``; stopped after the test."""
    stack: list[Any] = []

    def start(**config: Any) -> ServeServer:
        manager = serve_kit.running(None, **config)
        server = manager.__enter__()
        stack.append(manager)
        return server

    yield start
    for manager in reversed(stack):
        manager.__exit__(None, None, None)


@pytest.fixture
def server(start_server: Callable[..., ServeServer]) -> ServeServer:
    """A running server with the defaults: no API keys (loopback), default backend ``trl``."""
    return start_server()


def _exclusive_bounds_as_numbers(node: Any) -> Any:
    """OpenAPI 3.0's ``exclusiveMinimum: true`` beside ``minimum: m`` as 3.1's
    ``exclusiveMinimum: m``: the 3.1 document keeps some 3.0 booleans, which JSON Schema 2020 reads
    as the number 1 (so a learning_rate_multiplier of 0.5 would be refused)."""
    if isinstance(node, dict):
        fixed = {k: _exclusive_bounds_as_numbers(v) for k, v in node.items()}
        for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
            flag = fixed.pop(exclusive) if isinstance(fixed.get(exclusive), bool) else None
            if flag and bound in fixed:
                fixed[exclusive] = fixed.pop(bound)
        return fixed
    if isinstance(node, list):
        return [_exclusive_bounds_as_numbers(v) for v in node]
    return node


def _nullable_as_null_type(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable: true`` as 3.1's ``anyOf [..., {"type": "null"}]``: the stream
    chunk schema keeps 3.0's form (``finish_reason``, ``logprobs``, ``usage`` may be null),
    which a 3.1 validator does not read."""
    if isinstance(node, dict):
        fixed = {k: _nullable_as_null_type(v) for k, v in node.items() if k != "nullable"}
        return {"anyOf": [fixed, {"type": "null"}]} if node.get("nullable") is True else fixed
    if isinstance(node, list):
        return [_nullable_as_null_type(v) for v in node]
    return node


class SpecRecorder:
    """Records every request/response of a client and checks them against OpenAI's published
    spec (../shared/specs/openai/openapi.yaml) with openapi-core: JSON request bodies with
    ``validate_request``, answers with ``validate_response``."""

    _openapi: Any = None

    def __init__(self, specs: Any, *, checking: bool = True) -> None:
        self.specs = specs
        #: False where ../shared/specs is missing: the traffic is kept, nothing is checked
        self.checking = checking
        self.seen: list[httpx.Response] = []
        #: what streamed answers carried (the SDK reads them as they come: kept on the way)
        self.streamed: dict[int, bytearray] = {}

    def openapi(self) -> Any:
        if SpecRecorder._openapi is None:
            from openapi_core import Config, OpenAPI

            document = _exclusive_bounds_as_numbers(self.specs._document("openai"))
            config = Config(spec_validator_cls=None)
            SpecRecorder._openapi = OpenAPI.from_dict(document, config=config)
        return SpecRecorder._openapi

    def http_client(self) -> httpx.Client:
        """An ``httpx.Client`` to give the openai SDK (``http_client=``) so its traffic is kept."""
        return httpx.Client(timeout=60, event_hooks={"response": [self._keep]})

    def _keep(self, response: httpx.Response) -> None:
        self.seen.append(response)
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            kept = self.streamed[id(response)] = bytearray()
            original = response.stream

            class Tee(httpx.SyncByteStream):
                def __iter__(self) -> Iterator[bytes]:
                    for chunk in original:  # type: ignore[union-attr]
                        kept.extend(chunk)
                        yield chunk

                def close(self) -> None:
                    original.close()  # type: ignore[union-attr]

            response.stream = Tee()

    def problems(self) -> list[str]:
        """One line per request or answer that breaks the spec (empty: every one matches, or
        the spec is not here to check against)."""
        found: list[str] = []
        if not self.checking:
            return found
        for response in self.seen:
            if not response.request.url.path.startswith("/v1/"):
                continue
            found += self._request_problems(response.request)
            if response.request.url.path.endswith("/content"):
                # the spec declares file content as a JSON string; the bytes are sent as they
                # are (application/octet-stream), which the SDK reads as binary either way
                continue
            if not response.is_success:
                continue
            if response.headers.get("content-type", "").startswith("text/event-stream"):
                found += self._stream_problems(response)
            else:
                found += self._response_problems(response)
        return found

    def _stream_problems(self, response: httpx.Response) -> list[str]:
        """Each ``data:`` of a chat completions stream against the spec's chunk schema, and the
        stream's end (``data: [DONE]``). The SDK reads the stream, so its text is here."""
        import json

        from openapi_schema_validator import OAS31Validator

        where = f"stream {response.request.url.path}"
        document = _nullable_as_null_type(
            _exclusive_bounds_as_numbers(self.specs._document("openai"))
        )
        schema = {
            "$ref": "#/components/schemas/CreateChatCompletionStreamResponse",
            "components": document["components"],
        }
        text = bytes(self.streamed.get(id(response), b"")).decode()
        datas = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
        if not datas or datas[-1] != "[DONE]":
            return [f"{where}: does not end with data: [DONE]"]
        validator = OAS31Validator(schema)
        return [
            f"{where}: {error.json_path}: {error.message}"
            for data in datas[:-1]
            for error in validator.iter_errors(json.loads(data))
        ]

    def _mock_request(self, request: httpx.Request, with_body: bool) -> Any:
        from openapi_core.testing import MockRequest

        content_type = request.headers.get("content-type", "").split(";")[0]
        return MockRequest(
            self.specs.servers["openai"],
            request.method.lower(),
            request.url.path,
            args=dict(request.url.params),
            headers=dict(request.headers),
            data=request.content if with_body else None,
            content_type=content_type if with_body else "application/json",
        )

    @staticmethod
    def _explain(where: str, exc: Exception) -> list[str]:
        cause = exc.__cause__ if exc.__cause__ is not None else exc
        errors = getattr(cause, "schema_errors", None)
        if errors:
            return [f"{where}: {e.json_path}: {e.message}" for e in errors]
        return [f"{where}: {cause!r}"]

    def _request_problems(self, request: httpx.Request) -> list[str]:
        content_type = request.headers.get("content-type", "").split(";")[0]
        if request.method not in ("POST", "PUT") or content_type != "application/json":
            return []
        if request.url.path == "/v1/chat/completions":
            # the spec's message union maps roles to '#/components/schemas/user' and the like,
            # which it does not define: openapi-core cannot resolve them (the answer is checked)
            return []
        try:
            self.openapi().validate_request(self._mock_request(request, True))
        except Exception as exc:
            return self._explain(f"request {request.method} {request.url.path}", exc)
        return []

    def _response_problems(self, response: httpx.Response) -> list[str]:
        from openapi_core.testing import MockResponse

        request = response.request
        content_type = response.headers.get("content-type", "application/json").split(";")[0]
        try:
            self.openapi().validate_response(
                self._mock_request(request, False),
                MockResponse(
                    response.content,
                    status_code=response.status_code,
                    headers=dict(response.headers),
                    content_type=content_type,
                ),
            )
        except Exception as exc:
            return self._explain(f"{request.method} {request.url.path}", exc)
        return []


@pytest.fixture
def spec_recorder(specs: Any) -> SpecRecorder:
    """A `SpecRecorder`. Where ../shared/specs/openai is missing the test still runs the whole
    job; only the spec checks are left out (``recorder.checking`` is False)."""
    return SpecRecorder(specs, checking=specs.available("openai"))
