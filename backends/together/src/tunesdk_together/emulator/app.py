"""The emulator's HTTP face: Together's REST API as the official ``together`` SDK calls it.

Paths, field names, statuses and error shapes follow Together's published OpenAPI document
(shared/specs/together/openapi.yaml) and, where the SDK goes beyond it (the presigned and multipart
upload flow, ``/fine-tunes/{id}/metrics``, ``gradient_accumulation_steps``), SDK 3.1.1's own calls.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
import uuid
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from tunesdk.emulation import AdminRoute, ApiRoutes, ASGIApp
from tunesdk_together.emulator.errors import ApiError
from tunesdk_together.emulator.jobs import Timing
from tunesdk_together.emulator.state import EmulatorState
from tunesdk_together.models import lookup

ADMIN_PATH = "/_emulator/training"
STORAGE = "/_storage/uploads"


def build_app(state: EmulatorState) -> ASGIApp:
    """Together's API (wrap it in `tunesdk.emulation.FaultMiddleware` to inject faults)."""
    return Starlette(routes=_routes(state))


def api_routes(state: EmulatorState) -> ApiRoutes:
    """Bearer auth against the accepted keys, ``req-…`` ids, Together's ``ErrorData`` body."""
    return ApiRoutes(
        keys=lambda: state.config.api_keys,
        missing_key=lambda: ApiError(
            401, "Missing API key. Pass it as 'Authorization: Bearer <key>'", code="missing_api_key"
        ),
        wrong_key=lambda key: ApiError(
            401,
            "Invalid API key provided. You can find your API key at "
            "https://api.together.ai/settings/api-keys.",
            code="invalid_api_key",
        ),
        request_id_prefix="req-",
        request_id_hex=20,
    )


def _routes(state: EmulatorState) -> list[Route]:
    api = api_routes(state).endpoint
    files = state.files

    # ---- files --------------------------------------------------------------------------------

    async def list_files(request: Request) -> Any:
        return {"data": files.listing()}

    async def begin_upload(request: Request) -> Any:
        form = await request.form()
        file_id, token = files.begin(dict(form))
        location = f"{_origin(request)}{STORAGE}/{file_id}?token={token}"
        return Response(
            status_code=302, headers={"Location": location, "X-Together-File-Id": file_id}
        )

    async def put_upload(request: Request) -> Any:
        incoming = await _spool(request, state.root)
        etag = files.put_body(
            request.path_params["file_id"], request.query_params.get("token", ""), incoming
        )
        return Response(status_code=200, headers={"ETag": f'"{etag}"'})

    async def put_part(request: Request) -> Any:
        incoming = await _spool(request, state.root)
        etag = files.put_part(
            request.path_params["file_id"],
            request.query_params.get("token", ""),
            int(request.path_params["number"]),
            incoming,
        )
        return Response(status_code=200, headers={"ETag": f'"{etag}"'})

    async def preprocess(request: Request) -> Any:
        return files.preprocess(request.path_params["id"])

    async def direct_upload(request: Request) -> Any:
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ApiError(400, "file is required", param="file")
        with tempfile.NamedTemporaryFile(dir=state.root, delete=False) as out:
            while chunk := await upload.read(1 << 20):
                out.write(chunk)
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        fields.setdefault("file_name", upload.filename or "upload.jsonl")
        return files.direct(fields, Path(out.name))

    async def initiate(request: Request) -> Any:
        origin = _origin(request)

        def part_url(file_id: str, token: str, number: int) -> str:
            return f"{origin}{STORAGE}/{file_id}/parts/{number}?token={token}"

        return files.initiate(await _json(request), part_url)

    async def complete(request: Request) -> Any:
        return files.complete(await _json(request))

    async def abort(request: Request) -> Any:
        return files.abort(await _json(request))

    async def get_file(request: Request) -> Any:
        return files.get(request.path_params["id"]).as_json()

    async def delete_file(request: Request) -> Any:
        return files.delete(request.path_params["id"])

    async def file_content(request: Request) -> Any:
        stored = files.get(request.path_params["id"])
        return FileResponse(
            stored.path, media_type="application/octet-stream", filename=stored.filename
        )

    # ---- fine-tuning --------------------------------------------------------------------------

    async def create_job(request: Request) -> Any:
        return state.create_job(await _json(request)).as_json(full=False)

    async def list_jobs(request: Request) -> Any:
        return {"data": [job.as_json(full=False) for job in state.list_jobs()]}

    async def get_job(request: Request) -> Any:
        return state.get_job(request.path_params["id"]).as_json()

    async def delete_job(request: Request) -> Any:
        return state.delete_job(request.path_params["id"])

    async def cancel_job(request: Request) -> Any:
        return state.cancel_job(request.path_params["id"]).as_json(full=False)

    async def job_events(request: Request) -> Any:
        return {"data": state.get_job(request.path_params["id"]).events()}

    async def job_checkpoints(request: Request) -> Any:
        return {"data": state.get_job(request.path_params["id"]).checkpoints()}

    async def job_metrics(request: Request) -> Any:
        rows = state.get_job(request.path_params["id"]).metrics()
        low = _int_query(request, "global_step_from")
        high = _int_query(request, "global_step_to")
        if low is not None:
            rows = [r for r in rows if r["train/global_step"] >= low]
        if high is not None:
            rows = [r for r in rows if r["train/global_step"] <= high]
        return {"metrics": rows}

    async def estimate_price(request: Request) -> Any:
        return state.estimate_price(await _json(request))

    async def supported(request: Request) -> Any:
        return {"models": state.supported_models()}

    async def limits(request: Request) -> Any:
        name = request.query_params.get("model_name")
        if not name:
            raise ApiError(400, "model_name is required", param="model_name")
        return state.model_limits(name)

    async def download(request: Request) -> Any:
        job_id = request.query_params.get("ft_id")
        if not job_id:
            raise ApiError(400, "ft_id is required", param="ft_id")
        checkpoint = request.query_params.get("checkpoint") or None
        if checkpoint not in {None, "merged", "adapter", "model_output_path", "default"}:
            raise ApiError(
                400,
                f"checkpoint must be merged, adapter or model_output_path, got {checkpoint!r}",
                param="checkpoint",
            )
        step = _int_query(request, "checkpoint_step") or None
        path = state.archive(job_id, None if checkpoint == "default" else checkpoint, step)
        name = state.get_job(job_id).output_name.replace("/", "-")
        return FileResponse(path, media_type="application/octet-stream", filename=f"{name}.tar.zst")

    # ---- inference ------------------------------------------------------------------------

    async def chat(request: Request) -> Any:
        body = await _json(request)
        model = str(body.get("model") or "")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise ApiError(400, "messages must be a non-empty list", param="messages")
        _check_servable(state, model, body)
        last = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), "")
        text = f"[{model}] {last if isinstance(last, str) else json.dumps(last)}"
        prompt = " ".join(str(m.get("content", "")) for m in messages)
        choice = {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": text},
        }
        return _completion("chat.completion", model, choice, prompt, text)

    async def completion(request: Request) -> Any:
        body = await _json(request)
        model = str(body.get("model") or "")
        prompt = body.get("prompt")
        if not isinstance(prompt, str):
            raise ApiError(400, "prompt must be a string", param="prompt")
        _check_servable(state, model, body)
        text = f"[{model}] {prompt[-200:]}"
        choice = {"index": 0, "finish_reason": "stop", "text": text}
        return _completion("text.completion", model, choice, prompt, text)

    async def create_endpoint(request: Request) -> Any:
        return state.endpoints.create(await _json(request), state.servable_models()).as_json()

    async def get_endpoint(request: Request) -> Any:
        return state.endpoints.get(request.path_params["id"]).as_json()

    async def delete_endpoint(request: Request) -> Any:
        state.endpoints.delete(request.path_params["id"])
        return Response(status_code=204)

    return [
        Route("/v1/files", api(list_files), methods=["GET"]),
        Route("/v1/files", api(begin_upload), methods=["POST"]),
        Route("/v1/files/upload", api(direct_upload), methods=["POST"]),
        Route("/v1/files/multipart/initiate", api(initiate), methods=["POST"]),
        Route("/v1/files/multipart/complete", api(complete), methods=["POST"]),
        Route("/v1/files/multipart/abort", api(abort), methods=["POST"]),
        Route("/v1/files/{id}", api(get_file), methods=["GET"]),
        Route("/v1/files/{id}", api(delete_file), methods=["DELETE"]),
        Route("/v1/files/{id}/content", api(file_content), methods=["GET"]),
        Route("/v1/files/{id}/preprocess", api(preprocess), methods=["POST"]),
        Route(STORAGE + "/{file_id}", api(put_upload, auth=False), methods=["PUT"]),
        Route(
            STORAGE + "/{file_id}/parts/{number:int}", api(put_part, auth=False), methods=["PUT"]
        ),
        Route("/v1/fine-tunes", api(list_jobs), methods=["GET"]),
        Route("/v1/fine-tunes", api(create_job), methods=["POST"]),
        Route("/v1/fine-tunes/estimate-price", api(estimate_price), methods=["POST"]),
        Route("/v1/fine-tunes/models/supported", api(supported), methods=["GET"]),
        Route("/v1/fine-tunes/models/limits", api(limits), methods=["GET"]),
        Route("/v1/fine-tunes/{id}", api(get_job), methods=["GET"]),
        Route("/v1/fine-tunes/{id}", api(delete_job), methods=["DELETE"]),
        Route("/v1/fine-tunes/{id}/events", api(job_events), methods=["GET"]),
        Route("/v1/fine-tunes/{id}/checkpoints", api(job_checkpoints), methods=["GET"]),
        Route("/v1/fine-tunes/{id}/metrics", api(job_metrics), methods=["GET"]),
        Route("/v1/fine-tunes/{id}/cancel", api(cancel_job), methods=["POST"]),
        Route("/v1/finetune/download", api(download), methods=["GET"]),
        Route("/v1/chat/completions", api(chat), methods=["POST"]),
        Route("/v1/completions", api(completion), methods=["POST"]),
        Route("/v1/endpoints", api(create_endpoint), methods=["POST"]),
        Route("/v1/endpoints/{id}", api(get_endpoint), methods=["GET"]),
        Route("/v1/endpoints/{id}", api(delete_endpoint), methods=["DELETE"]),
    ]


def _completion(
    kind: str, model: str, choice: dict[str, Any], prompt: str, text: str
) -> dict[str, Any]:
    prompt_tokens, completion_tokens = len(prompt.split()), len(text.split())
    return {
        "id": f"cmpl-{uuid.uuid4().hex[:24]}",
        "object": kind,
        "created": int(time.time()),
        "model": model,
        "prompt": [],
        "choices": [choice],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _check_servable(state: EmulatorState, model: str, body: dict[str, Any]) -> None:
    if body.get("stream"):
        raise ApiError(
            400, "the emulator does not stream; call without stream=True", param="stream"
        )
    if state.endpoints.serving(model) is not None:
        return
    job = state.find_output(model)
    if job is not None:
        status = job.status()
        if status != "completed":
            raise ApiError(
                404,
                f"Unable to access model {model}: its fine-tuning job {job.id} is {status}",
                param="model",
                code="model_not_available",
            )
        if not (job.is_lora and job.base.serverless_lora):
            raise ApiError(
                400,
                f"Unable to access non-serverless model {model}. Please visit "
                f"https://api.together.ai/models/{model} to create and start a new dedicated "
                "endpoint for the model.",
                param="model",
                code="model_not_available",
            )
        return
    if lookup(model) is None:
        raise ApiError(
            404,
            f"Unable to access model {model}. Please visit https://api.together.ai/models "
            "to view the list of supported models.",
            param="model",
            code="model_not_available",
        )


def training_admin(state: EmulatorState) -> AdminRoute:
    """``/_emulator/training``, the older admin route: speeds and the next failure in one call."""

    def handler(method: str, raw: bytes) -> tuple[int, Any]:
        if method == "POST":
            body = json.loads(raw or b"{}")
            timing = {k: float(v) for k, v in body.items() if k in _TIMING_FIELDS}
            if timing:
                state.set_timing(**timing)
            if body.get("fail_next_job_at_step") is not None:
                state.fail_next_job(int(body["fail_next_job_at_step"]), body.get("fail_message"))
        return 200, {"timing": asdict(state.config.timing), "failures_pending": len(state.failures)}

    return handler


_TIMING_FIELDS = {f.name for f in fields(Timing)}


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except json.JSONDecodeError:
        raise ApiError(400, "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return body


async def _spool(request: Request, root: Path) -> Path:
    """Stream a request body to a temporary file (never whole in memory)."""
    with tempfile.NamedTemporaryFile(dir=root, delete=False) as out:
        async for chunk in request.stream():
            out.write(chunk)
    return Path(out.name)


def _int_query(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    if not re.fullmatch(r"-?\d+", value):
        raise ApiError(400, f"{name} must be an integer, got {value!r}", param=name)
    return int(value)


def _origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


__all__ = ["ADMIN_PATH", "api_routes", "build_app", "training_admin"]
