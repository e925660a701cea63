"""The HTTP face of the offline Tinker server: the ``/api/v1`` routes the official client calls.

Auth is the client's ``X-API-Key`` header (any ``tml-`` key, or one of ``api_keys``). Request
bodies are JSON except ``forward_backward`` (protobuf); ``retrieve_future`` answers protobuf for
forward/backward and sample results (the client asks with ``Accept: application/x-protobuf``)
and JSON otherwise. Telemetry and sampling cancels are accepted and dropped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from tunesdk.emulation.settings import EmulatorSettings
from tunesdk_tinker.emulator.errors import BadRequest, NotFound, TinkerError, Unauthorized
from tunesdk_tinker.emulator.state import ServerState
from tunesdk_tinker.emulator.store import checkpoint_ref
from tunesdk_tinker.emulator.wire import read_forward_backward

PROTO = "application/x-protobuf"
#: where external-weights files are served from (the "signed URLs" the client downloads)
FILES_PREFIX = "/_files"
URL_LIFETIME_S = 3600

Handler = Callable[[Request], Awaitable[Response]]


def build_app(state: ServerState, settings: EmulatorSettings) -> Starlette:
    def api(handler: Callable[[Request, bytes], Any]) -> Handler:
        """Auth, JSON in and out, `TinkerError` → its status; the handler runs off the loop."""

        async def endpoint(request: Request) -> Response:
            from starlette.concurrency import run_in_threadpool

            try:
                _authorize(request, settings)
                result = await run_in_threadpool(handler, request, await request.body())
            except TinkerError as exc:
                return JSONResponse(exc.body(), status_code=exc.status)
            except (KeyError, TypeError, ValueError) as exc:  # a field of the wrong shape
                # 400, not 500: the client would retry a 500 for five minutes
                message = f"malformed {request.url.path} request: {type(exc).__name__}: {exc}"
                return JSONResponse(BadRequest(message).body(), status_code=400)
            return result if isinstance(result, Response) else JSONResponse(result)

        return endpoint

    def queued(request_id: str, **extra: Any) -> dict[str, Any]:
        return {"request_id": request_id, **extra}

    # ---- service ------------------------------------------------------------------------------

    def client_config(request: Request, body: bytes) -> Any:
        return {
            "pjwt_auth_enabled": False,
            "parallel_fwdbwd_chunks": False,  # one chunk at a time: the queue stays in seq order
            "proto_compress_fwdbwd": False,
            "use_pyqwest_transport": False,
            "sample_use_retrieve_futures": False,
            "custom_loss_server_side": False,
            "sample_join_sampling_session": False,
        }

    def capabilities(request: Request, body: bytes) -> Any:
        return {
            "supported_models": [
                {"model_name": name, "trainable": True, "sampleable": True}
                for name in state.bases.names()
            ]
        }

    def create_session(request: Request, body: bytes) -> Any:
        return state.create_session(_json(body))

    def heartbeat(request: Request, body: bytes) -> Any:
        session = state.session(str(_json(body).get("session_id")))
        if session["finished"] is not None:
            raise TinkerError("the session has finished", status=410)
        return {"type": "session_heartbeat"}

    def finish(request: Request, body: bytes) -> Any:
        state.finish_session(request.path_params["session_id"], _json(body).get("reason"))
        return None

    def get_session(request: Request, body: bytes) -> Any:
        session_id = request.path_params["session_id"]
        state.session(session_id)
        return {
            "training_run_ids": [m for m in state.pending_models if m.startswith(session_id)],
            "sampler_ids": [s for s in state.samplers if s.startswith(session_id)],
        }

    # ---- training -----------------------------------------------------------------------------

    def create_model(request: Request, body: bytes) -> Any:
        return queued(state.create_model(_json(body)))

    def get_info(request: Request, body: bytes) -> Any:
        return state.get_info(_json(body))

    def forward_backward(request: Request, body: bytes) -> Any:
        if PROTO not in request.headers.get("content-type", ""):
            raise BadRequest("forward_backward takes a protobuf ForwardBackwardRequest body")
        if request.headers.get("content-encoding"):
            raise BadRequest("send forward_backward uncompressed (proto_compress_fwdbwd is off)")
        fb = read_forward_backward(body)
        return queued(state.forward_backward(fb), model_id=fb.model_id)

    def optim_step(request: Request, body: bytes) -> Any:
        return queued(state.optim_step(_json(body)))

    def save_weights(request: Request, body: bytes) -> Any:
        return queued(state.save_weights(_json(body)))

    def save_for_sampler(request: Request, body: bytes) -> Any:
        return queued(state.save_weights_for_sampler(_json(body)))

    def save_external(request: Request, body: bytes) -> Any:
        return queued(state.save_weights_external(_json(body)))

    def load_weights(request: Request, body: bytes) -> Any:
        return queued(state.load_weights(_json(body)))

    # ---- sampling -----------------------------------------------------------------------------

    def create_sampling_session(request: Request, body: bytes) -> Any:
        return state.create_sampling_session(_json(body))

    def get_sampler(request: Request, body: bytes) -> Any:
        return state.get_sampler(request.path_params["sampler_id"])

    def asample(request: Request, body: bytes) -> Any:
        request_id, n = state.sample(_json(body))
        return queued(request_id, sample_sequence_ids=[f"{request_id}:{i}" for i in range(n)])

    # ---- futures ------------------------------------------------------------------------------

    async def retrieve_future(request: Request) -> Response:
        try:
            _authorize(request, settings)
            request_id = str(_json(await request.body()).get("request_id"))
            result = await state.futures.retrieve(request_id)
        except TinkerError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        if result is None:
            return JSONResponse(
                {"type": "try_again", "request_id": request_id, "queue_state": "active"}
            )
        if result.kind == "proto":
            return Response(result.payload, media_type=PROTO)
        if result.kind == "error":
            return JSONResponse({"error": result.payload, "category": result.category})
        return JSONResponse(result.payload)

    # ---- training runs, checkpoints, downloads ------------------------------------------------

    def training_run(request: Request, body: bytes) -> Any:
        return _training_run(state, request.path_params["run_id"])

    def training_runs(request: Request, body: bytes) -> Any:
        runs = [_training_run(state, info.run_id) for info in state.store.list_runs()]
        return {
            "training_runs": runs,
            "cursor": {"offset": 0, "limit": len(runs), "total_count": len(runs)},
        }

    def checkpoints(request: Request, body: bytes) -> Any:
        return {"checkpoints": state.store.checkpoints(request.path_params["run_id"])}

    def checkpoint(request: Request, body: bytes) -> Any:
        run_id, rest = request.path_params["run_id"], request.path_params["rest"]
        segment, _, tail = rest.partition("/")
        name, _, action = tail.partition("/")
        ref = checkpoint_ref(run_id, segment, name)
        if request.method == "DELETE" and not action:
            state.store.delete(ref)
            return None
        if request.method == "PUT" and action == "ttl":
            state.store.existing(ref)  # checkpoints never expire here; accept the new TTL
            return None
        if request.method == "GET" and action == "external_weights_urls":
            if ref.kind != "external":
                raise BadRequest("only external_weights/ checkpoints have download URLs")
            base = str(request.base_url).rstrip("/")
            urls = {
                file: f"{base}{FILES_PREFIX}/{run_id}/{ref.checkpoint_id}/{file}"
                for file in state.store.files(ref)
            }
            expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + URL_LIFETIME_S))
            return {"urls": urls, "expires": expires}
        raise NotFound(f"no route {request.method} {request.url.path} on the offline Tinker server")

    def download(request: Request, body: bytes) -> Any:
        run_id, rest = request.path_params["run_id"], request.path_params["rest"]
        segment, _, tail = rest.partition("/")
        name, _, relative = tail.partition("/")
        path = state.store.file(checkpoint_ref(run_id, segment, name), relative)
        return FileResponse(path)

    # ---- accepted and ignored -----------------------------------------------------------------

    def accepted(request: Request, body: bytes) -> Any:
        return {"status": "accepted"}

    def nothing(request: Request, body: bytes) -> Any:
        return None

    def empty(request: Request, body: bytes) -> Any:
        return {}

    routes = [
        Route("/api/v1/healthz", api(lambda r, b: {"status": "ok"}), methods=["GET"]),
        Route("/api/v1/client/config", api(client_config), methods=["POST"]),
        Route("/api/v1/client/dynamic_config", api(empty), methods=["POST"]),
        Route("/api/v1/get_server_capabilities", api(capabilities), methods=["GET"]),
        Route("/api/v1/create_session", api(create_session), methods=["POST"]),
        Route("/api/v1/session_heartbeat", api(heartbeat), methods=["POST"]),
        Route("/api/v1/sessions/{session_id}/finish", api(finish), methods=["POST"]),
        Route("/api/v1/sessions/{session_id}", api(get_session), methods=["GET"]),
        Route("/api/v1/telemetry", api(accepted), methods=["POST"]),
        Route("/api/v1/cancel_future", api(nothing), methods=["POST"]),
        Route("/api/v1/create_model", api(create_model), methods=["POST"]),
        Route("/api/v1/get_info", api(get_info), methods=["POST"]),
        Route("/api/v1/forward_backward", api(forward_backward), methods=["POST"]),
        Route("/api/v1/optim_step", api(optim_step), methods=["POST"]),
        Route("/api/v1/save_weights", api(save_weights), methods=["POST"]),
        Route("/api/v1/save_weights_for_sampler", api(save_for_sampler), methods=["POST"]),
        Route("/api/v1/save_weights_external", api(save_external), methods=["POST"]),
        Route("/api/v1/load_weights", api(load_weights), methods=["POST"]),
        Route("/api/v1/create_sampling_session", api(create_sampling_session), methods=["POST"]),
        Route("/api/v1/samplers/{sampler_id}", api(get_sampler), methods=["GET"]),
        Route("/api/v1/asample", api(asample), methods=["POST"]),
        Route("/api/v1/retrieve_future", retrieve_future, methods=["POST"]),
        Route("/api/v1/training_runs", api(training_runs), methods=["GET"]),
        Route("/api/v1/training_runs/{run_id}", api(training_run), methods=["GET"]),
        Route("/api/v1/training_runs/{run_id}/checkpoints", api(checkpoints), methods=["GET"]),
        Route(
            "/api/v1/training_runs/{run_id}/checkpoints/{rest:path}",
            api(checkpoint),
            methods=["GET", "PUT", "DELETE"],
        ),
        Route(FILES_PREFIX + "/{run_id}/{rest:path}", _open(download), methods=["GET"]),
    ]
    return Starlette(routes=routes, exception_handlers={404: _not_found, 405: _not_allowed})


def _open(handler: Callable[[Request, bytes], Any]) -> Handler:
    """Download URLs are unauthenticated (like signed URLs): the path is the capability."""

    async def endpoint(request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        try:
            result: Response = await run_in_threadpool(handler, request, b"")
        except TinkerError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        return result

    return endpoint


def _authorize(request: Request, settings: EmulatorSettings) -> None:
    key = request.headers.get("x-api-key", "")
    if not key:
        raise Unauthorized("no API key: set TINKER_API_KEY (any tml-... key works offline)")
    if settings.api_keys is not None and key not in settings.api_keys:
        raise Unauthorized("this API key is not accepted by the server (see --api-key)")


def _json(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    try:
        parsed = json.loads(body)
    except ValueError as exc:
        raise BadRequest(f"the request body is not JSON ({exc})") from None
    if not isinstance(parsed, dict):
        raise BadRequest("the request body must be a JSON object")
    return parsed


def _training_run(state: ServerState, run_id: str) -> dict[str, Any]:
    info = state.store.run_info(run_id)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(info.created))
    saved = state.store.checkpoints(run_id)
    training = [c for c in saved if c["checkpoint_type"] == "training"]
    sampler = [c for c in saved if c["checkpoint_type"] == "sampler"]
    return {
        "training_run_id": run_id,
        "base_model": info.base_model,
        "model_owner": "offline",
        "is_lora": True,
        "lora_rank": info.lora_rank,
        "last_request_time": stamp,
        "last_checkpoint": training[-1] if training else None,
        "last_sampler_checkpoint": sampler[-1] if sampler else None,
    }


async def _not_found(request: Request, exc: Exception) -> Response:
    message = f"the offline Tinker server has no route {request.method} {request.url.path}"
    return JSONResponse({"detail": message, "status": 404}, status_code=404)


async def _not_allowed(request: Request, exc: Exception) -> Response:
    message = f"{request.method} is not allowed on {request.url.path}"
    return JSONResponse({"detail": message, "status": 405}, status_code=405)


__all__ = ["FILES_PREFIX", "PROTO", "build_app"]
