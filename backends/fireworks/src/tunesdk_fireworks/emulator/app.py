"""The emulator's HTTP surface: Fireworks' REST paths as the ``fireworks-ai`` SDK calls them.

Control plane (``Authorization: Bearer <key>``), paths relative to the base URL:

    /v1/accounts/{account}/datasets[/{id}[:upload|:getUploadEndpoint|:validateUpload]]
    /v1/accounts/{account}/supervisedFineTuningJobs[/{id}[:cancel]]
    /v1/accounts/{account}/dpoJobs[/{id}[:cancel|:getMetricsFileEndpoint]]
    /v1/accounts/{account}/models[/{id}]
    /v1/accounts/{account}/deployments[/{id}]
    /v1/accounts/{account}/deployedModels[/{id}]

Inference: ``/v1/chat/completions`` and ``/v1/completions`` (what the SDK calls once the base URL
is overridden) and the same under ``/inference`` (the public paths, for OpenAI-compatible clients).
Signed URLs (no credentials, like Google Cloud Storage): ``PUT /_signed/datasets/{token}`` and
``GET /_signed/metrics/{token}``. Emulator settings: ``GET/POST /_emulator/settings`` (and the
older ``/_fireworks/config``).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tunesdk.emulation import ApiRoutes, ProviderError
from tunesdk_fireworks.emulator.errors import ApiError, inference_body
from tunesdk_fireworks.emulator.jobs import JobKind
from tunesdk_fireworks.emulator.state import EmulatorState, apply_filter, paginate

Handler = Callable[[Request], Awaitable[Response]]
NOT_DEPLOYED = "Model not found, inaccessible, and/or not deployed"


def create_app(state: EmulatorState) -> Starlette:
    """The ASGI app serving ``state`` (wrap it in FaultMiddleware to inject faults)."""
    api = _Api(state)
    routes = [
        Route("/v1/accounts/{account}/datasets", api.datasets, methods=["GET", "POST"]),
        Route(
            "/v1/accounts/{account}/datasets/{ref}",
            api.dataset,
            methods=["GET", "POST", "PATCH", "DELETE"],
        ),
        Route(
            "/v1/accounts/{account}/supervisedFineTuningJobs", api.sft_jobs, methods=["GET", "POST"]
        ),
        Route(
            "/v1/accounts/{account}/supervisedFineTuningJobs/{ref}",
            api.sft_job,
            methods=["GET", "POST", "DELETE"],
        ),
        Route("/v1/accounts/{account}/dpoJobs", api.dpo_jobs, methods=["GET", "POST"]),
        Route(
            "/v1/accounts/{account}/dpoJobs/{ref}", api.dpo_job, methods=["GET", "POST", "DELETE"]
        ),
        Route(
            "/v1/accounts/{account}/reinforcementFineTuningJobs",
            api.rft_jobs,
            methods=["GET", "POST"],
        ),
        Route(
            "/v1/accounts/{account}/reinforcementFineTuningJobs/{ref}",
            api.rft_job,
            methods=["GET", "POST", "DELETE"],
        ),
        Route("/v1/accounts/{account}/evaluatorsV2", api.create_evaluator, methods=["POST"]),
        Route("/v1/accounts/{account}/evaluators", api.evaluators, methods=["GET"]),
        Route("/v1/accounts/{account}/evaluators/{ref}", api.evaluator, methods=["GET", "DELETE"]),
        Route("/v1/accounts/{account}/models", api.models, methods=["GET"]),
        Route("/v1/accounts/{account}/models/{ref}", api.model, methods=["GET"]),
        Route("/v1/accounts/{account}/deployments", api.deployments, methods=["GET", "POST"]),
        Route(
            "/v1/accounts/{account}/deployments/{ref}", api.deployment, methods=["GET", "DELETE"]
        ),
        Route(
            "/v1/accounts/{account}/deployedModels", api.deployed_models, methods=["GET", "POST"]
        ),
        Route(
            "/v1/accounts/{account}/deployedModels/{ref}",
            api.deployed_model,
            methods=["GET", "DELETE"],
        ),
        Route("/v1/chat/completions", api.chat, methods=["POST"]),
        Route("/inference/v1/chat/completions", api.chat, methods=["POST"]),
        Route("/v1/completions", api.complete, methods=["POST"]),
        Route("/inference/v1/completions", api.complete, methods=["POST"]),
        Route("/_signed/datasets/{token}", api.signed_upload, methods=["PUT"]),
        Route("/_signed/metrics/{token}", api.signed_metrics, methods=["GET"]),
    ]
    return Starlette(routes=routes)


def api_routes(state: EmulatorState) -> ApiRoutes:
    """Bearer auth against the accepted keys, ``req_…`` ids, the control-plane error body."""
    return ApiRoutes(
        keys=lambda: state.config.api_keys,
        missing_key=lambda: ApiError(
            401, "missing API key: send 'Authorization: Bearer <FIREWORKS_API_KEY>'"
        ),
        wrong_key=lambda key: ApiError(401, "invalid API key"),
        request_id_prefix="req_",
        request_id_hex=16,
    )


def _inference_error(error: ProviderError) -> dict[str, Any]:
    code = error.code if isinstance(error, ApiError) else None
    return inference_body(error.status, error.message, code)


def _verb(ref: str) -> tuple[str, str]:
    """Split ``id:verb`` (Google custom methods) into ``(id, verb)``."""
    resource_id, _, verb = ref.partition(":")
    return resource_id, verb


class _Api:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.routes = api_routes(state)

    # ---- plumbing ---------------------------------------------------------------------------

    async def _call(
        self, request: Request, work: Callable[[], Any], *, inference: bool = False
    ) -> Response:
        """Authorize, run ``work`` in a worker thread (the state locks), answer or refuse."""
        return await self.routes.answer(
            request,
            lambda: run_in_threadpool(work),
            error_body=_inference_error if inference else None,
        )

    @staticmethod
    async def _body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        if not raw:
            return {}
        try:
            body = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ApiError(400, f"request body is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise ApiError(400, "request body must be a JSON object")
        return body

    async def _json_call(
        self, request: Request, work: Callable[[dict[str, Any]], Any], *, inference: bool = False
    ) -> Response:
        async def parsed_then_work() -> Any:
            body = await self._body(request)
            return await run_in_threadpool(work, body)

        return await self.routes.answer(
            request, parsed_then_work, error_body=_inference_error if inference else None
        )

    @staticmethod
    def _listing(request: Request, key: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
        query = request.query_params
        rows = apply_filter(rows, query.get("filter"))
        order = (query.get("orderBy") or "").strip()
        if order:
            field, _, direction = order.partition(" ")
            rows.sort(key=lambda row: str(row.get(field, "")), reverse=direction.strip() == "desc")
        page, token = paginate(rows, query.get("pageSize"), query.get("pageToken"))
        return {key: page, "nextPageToken": token, "totalSize": len(rows)}

    @staticmethod
    def _base_url(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    # ---- datasets ---------------------------------------------------------------------------

    async def datasets(self, request: Request) -> Response:
        account = request.path_params["account"]
        if request.method == "POST":
            return await self._json_call(
                request, lambda body: self.state.create_dataset(account, body)
            )
        return await self._call(
            request, lambda: self._listing(request, "datasets", self.state.list_datasets(account))
        )

    async def dataset(self, request: Request) -> Response:
        account = request.path_params["account"]
        dataset_id, verb = _verb(request.path_params["ref"])
        method = request.method
        if method == "POST" and verb == "upload":
            return await self._upload(request, account, dataset_id)
        if method == "POST" and verb == "getUploadEndpoint":
            base = self._base_url(request)
            return await self._json_call(
                request, lambda body: self.state.upload_endpoint(account, dataset_id, body, base)
            )
        if method == "POST" and verb == "validateUpload":
            return await self._call(
                request, lambda: self.state.validate_upload(account, dataset_id)
            )
        if verb:
            return await self._call(request, lambda: _unknown(method, verb))
        if method == "GET":
            return await self._call(request, lambda: self.state.get_dataset(account, dataset_id))
        if method == "PATCH":
            return await self._json_call(
                request, lambda body: self.state.update_dataset(account, dataset_id, body)
            )
        if method == "DELETE":
            return await self._call(request, lambda: self.state.delete_dataset(account, dataset_id))
        return await self._call(request, lambda: _unknown(method, "POST without a custom method"))

    async def _upload(self, request: Request, account: str, dataset_id: str) -> Response:
        async def receive() -> Any:
            form = await request.form(max_files=1)
            try:
                upload = form.get("file")
                if not isinstance(upload, UploadFile):
                    raise ApiError(
                        400, "send the dataset as a multipart/form-data part named 'file'"
                    )
                filename = upload.filename or "dataset.jsonl"
                size = upload.size if upload.size is not None else 0
                return await run_in_threadpool(
                    self.state.upload_dataset, account, dataset_id, filename, upload.file, size
                )
            finally:
                await form.close()

        return await self.routes.answer(request, receive)

    async def signed_upload(self, request: Request) -> Response:
        token = request.path_params["token"]
        try:
            if request.headers.get("content-type") != "application/octet-stream":
                raise ApiError(
                    400, "signed upload URLs are signed for Content-Type application/octet-stream"
                )
            upload, path = self.state.signed_upload(
                token, request.headers.get("x-goog-content-length-range")
            )
            written = 0
            with path.open("wb") as out:
                async for chunk in request.stream():
                    out.write(chunk)
                    written += len(chunk)
            self.state.finish_signed_upload(token, upload, path, written)
        except ApiError as error:
            return Response(error.message, status_code=error.status, media_type="text/plain")
        return Response(status_code=200)

    # ---- jobs -------------------------------------------------------------------------------

    async def sft_jobs(self, request: Request) -> Response:
        return await self._jobs(
            request, "sft", "supervisedFineTuningJobId", "supervisedFineTuningJobs"
        )

    async def dpo_jobs(self, request: Request) -> Response:
        return await self._jobs(request, "dpo", "dpoJobId", "dpoJobs")

    async def rft_jobs(self, request: Request) -> Response:
        return await self._jobs(
            request, "grpo", "reinforcementFineTuningJobId", "reinforcementFineTuningJobs"
        )

    async def rft_job(self, request: Request) -> Response:
        return await self._job(request, "grpo")

    async def create_evaluator(self, request: Request) -> Response:
        account = request.path_params["account"]
        return await self._json_call(
            request,
            lambda body: self.state.create_evaluator(account, body.get("evaluatorId"), body),
        )

    async def evaluators(self, request: Request) -> Response:
        account = request.path_params["account"]
        return await self._call(
            request,
            lambda: self._listing(request, "evaluators", self.state.list_evaluators(account)),
        )

    async def evaluator(self, request: Request) -> Response:
        account, ref = request.path_params["account"], request.path_params["ref"]
        if request.method == "DELETE":
            return await self._call(request, lambda: self.state.delete_evaluator(account, ref))
        return await self._call(request, lambda: self.state.get_evaluator(account, ref))

    async def _jobs(self, request: Request, kind: JobKind, id_param: str, key: str) -> Response:
        account = request.path_params["account"]
        if request.method == "POST":
            job_id = request.query_params.get(id_param)
            return await self._json_call(
                request, lambda body: self.state.create_job(kind, account, job_id, body)
            )
        return await self._call(
            request, lambda: self._listing(request, key, self.state.list_jobs(kind, account))
        )

    async def sft_job(self, request: Request) -> Response:
        return await self._job(request, "sft")

    async def dpo_job(self, request: Request) -> Response:
        return await self._job(request, "dpo")

    async def _job(self, request: Request, kind: JobKind) -> Response:
        account = request.path_params["account"]
        job_id, verb = _verb(request.path_params["ref"])
        method = request.method
        if method == "POST" and verb == "cancel":
            return await self._call(request, lambda: self.state.cancel_job(kind, account, job_id))
        if method == "GET" and kind == "dpo" and verb == "getMetricsFileEndpoint":
            base = self._base_url(request)
            return await self._call(
                request, lambda: self.state.metrics_endpoint(account, job_id, base)
            )
        if verb:
            return await self._call(request, lambda: _unknown(method, verb))
        if method == "GET":
            return await self._call(request, lambda: self.state.get_job(kind, account, job_id))
        if method == "DELETE":
            return await self._call(request, lambda: self.state.delete_job(kind, account, job_id))
        return await self._call(request, lambda: _unknown(method, "POST without a custom method"))

    async def signed_metrics(self, request: Request) -> Response:
        try:
            content = await run_in_threadpool(self.state.metrics_file, request.path_params["token"])
        except ApiError as error:
            return Response(error.message, status_code=error.status, media_type="text/plain")
        start = _range_start(request.headers.get("range"))
        if start is None:
            return Response(content, media_type="application/jsonl")
        if start >= len(content):
            return Response(status_code=416, headers={"content-range": f"bytes */{len(content)}"})
        return Response(
            content[start:],
            status_code=206,
            media_type="application/jsonl",
            headers={"content-range": f"bytes {start}-{len(content) - 1}/{len(content)}"},
        )

    # ---- models and serving -----------------------------------------------------------------

    async def models(self, request: Request) -> Response:
        account = request.path_params["account"]
        return await self._call(
            request, lambda: self._listing(request, "models", self.state.list_models(account))
        )

    async def model(self, request: Request) -> Response:
        account, ref = request.path_params["account"], request.path_params["ref"]
        return await self._call(request, lambda: self.state.get_model(account, ref))

    async def deployments(self, request: Request) -> Response:
        account = request.path_params["account"]
        if request.method == "POST":
            deployment_id = request.query_params.get("deploymentId")
            return await self._json_call(
                request, lambda body: self.state.create_deployment(account, deployment_id, body)
            )
        return await self._call(
            request,
            lambda: self._listing(request, "deployments", self.state.list_deployments(account)),
        )

    async def deployment(self, request: Request) -> Response:
        account, ref = request.path_params["account"], request.path_params["ref"]
        if request.method == "DELETE":
            return await self._call(request, lambda: self.state.delete_deployment(account, ref))
        return await self._call(request, lambda: self.state.get_deployment(account, ref))

    async def deployed_models(self, request: Request) -> Response:
        account = request.path_params["account"]
        if request.method == "POST":
            return await self._json_call(request, lambda body: self.state.load_lora(account, body))
        return await self._call(
            request,
            lambda: self._listing(
                request, "deployedModels", self.state.list_deployed_models(account)
            ),
        )

    async def deployed_model(self, request: Request) -> Response:
        account, ref = request.path_params["account"], request.path_params["ref"]
        if request.method == "DELETE":
            return await self._call(request, lambda: self.state.unload_lora(account, ref))
        return await self._call(request, lambda: self.state.get_deployed_model(account, ref))

    async def chat(self, request: Request) -> Response:
        return await self._json_call(request, lambda body: self._answer(body), inference=True)

    def _answer(self, body: dict[str, Any]) -> Response | dict[str, Any]:
        model, messages = body.get("model"), body.get("messages")
        if not isinstance(model, str) or not model:
            raise ApiError(400, "missing field 'model'")
        if not isinstance(messages, list) or not messages:
            raise ApiError(400, "'messages' must be a non-empty list")
        target = self.state.serving_target(model)
        if target is None:
            raise ApiError(404, NOT_DEPLOYED)
        content = canned_reply(model, messages)
        prompt_tokens = sum(
            len(str(m.get("content", "")).split()) for m in messages if isinstance(m, dict)
        )
        completion_tokens = len(content.split())
        reply_id = f"chatcmpl-{secrets.token_hex(8)}"
        if body.get("stream"):
            return StreamingResponse(_sse(reply_id, model, content), media_type="text/event-stream")
        return {
            "id": reply_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    async def complete(self, request: Request) -> Response:
        return await self._json_call(request, lambda body: self._continue(body), inference=True)

    def _continue(self, body: dict[str, Any]) -> dict[str, Any]:
        model, prompt = body.get("model"), body.get("prompt")
        if not isinstance(model, str) or not model:
            raise ApiError(400, "missing field 'model'")
        if not isinstance(prompt, str):
            raise ApiError(400, "'prompt' must be a string")
        if self.state.serving_target(model) is None:
            raise ApiError(404, NOT_DEPLOYED)
        text = f" [{model}] emulated continuation"
        prompt_tokens, completion_tokens = len(prompt.split()), len(text.split())
        return {
            "id": f"cmpl-{secrets.token_hex(8)}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "text": text, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


def canned_reply(model: str, messages: list[Any]) -> str:
    """The deterministic answer: names the model that served it and echoes the last user turn."""
    last = next(
        (
            m.get("content")
            for m in reversed(messages)
            if isinstance(m, dict) and m.get("role") == "user"
        ),
        "",
    )
    return f"[{model}] emulated reply to: {last}"


def _sse(reply_id: str, model: str, content: str) -> Any:
    async def events() -> Any:
        for delta, finish in (({"role": "assistant", "content": content}, None), ({}, "stop")):
            chunk = {
                "id": reply_id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            yield f"data: {json.dumps(chunk)}\n\n"
        yield "data: [DONE]\n\n"

    return events()


def _range_start(header: str | None) -> int | None:
    if not header or not header.startswith("bytes="):
        return None
    first = header[len("bytes=") :].split(",")[0].split("-")[0]
    return int(first) if first.isdigit() else None


def _unknown(method: str, verb: str) -> Any:
    raise ApiError(404, f"no such method: {method} :{verb}")


__all__ = ["NOT_DEPLOYED", "canned_reply", "create_app"]
