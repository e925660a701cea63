"""The emulator's HTTP face: OpenAI's REST API as the official ``openai`` SDK calls it.

Follows shared/specs/openai/openapi.yaml: ``/v1/files``, ``/v1/uploads`` (create, parts, complete,
cancel), ``/v1/fine_tuning/jobs`` (create, list with ``metadata[k]=v``, retrieve, cancel, pause,
resume, events, checkpoints) and ``/v1/chat/completions``. Lists are newest first with ``after``
cursors; errors are ``{"error": {"message", "type", "param", "code"}}`` with an ``x-request-id``
header. The same routes answer under ``/openai`` with ``api-version`` for the ``AzureOpenAI``
client, plus Azure's ``/openai/deployments/{model}/chat/completions``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import wraps
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from tunesdk.emulation import ApiRoutes, ProviderError
from tunesdk.serve.chat_objects import completion_object, usage_object
from tunesdk.serve.errors import error_object
from tunesdk.serve.job_mapping import HYPERPARAMETERS as OPENAI_HYPERPARAMETERS
from tunesdk.serve.job_mapping import MAX_SEED, METHODS, REASONING_EFFORTS, is_metadata
from tunesdk_openai.emulator.graders import grader_problems, run_grader
from tunesdk_openai.emulator.state import ACTIVE, PendingUpload, World
from tunesdk_openai.emulator.validation import estimate_tokens, validate_file
from tunesdk_openai.models import lookup

SETTINGS_PATH = "/_openai_emulator/settings"  # the older path; /_emulator/settings is the kit's
FILE_PURPOSES = frozenset({"assistants", "batch", "fine-tune", "vision", "user_data", "evals"})
UPLOAD_PURPOSES = frozenset({"assistants", "batch", "fine-tune", "vision"})
JSONL_MIME_TYPES = frozenset({"text/jsonl", "application/jsonl", "application/x-ndjson"})
#: OpenAI's request facts, one copy for this emulator and tunesdk serve: the hyperparameters of
#: each method type, the objective (tunesdk's word, as the model catalog lists it) of each
HYPERPARAMETERS = {kind: frozenset(names) for kind, names in OPENAI_HYPERPARAMETERS.items()}
OBJECTIVES = METHODS

Handler = Callable[[Request, World], Awaitable[Response]]
T = TypeVar("T")


class APIError(ProviderError):
    """An error answered in OpenAI's shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(status, message)
        self.type, self.param, self.code = type, param, code

    def body(self) -> dict[str, Any]:
        return error_object(self.message, type=self.type, param=self.param, code=self.code)


def error_body(status: int, message: str) -> dict[str, Any]:
    """The body of an injected fault, shaped like the real service's errors for that status."""
    kinds = {
        408: ("timeout", None),
        409: ("invalid_request_error", "conflict"),
        429: ("requests", "rate_limit_exceeded"),
    }
    kind, code = kinds.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    return error_object(message, type=kind, code=code)


def _json(payload: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(payload, status_code=status)  # ApiRoutes adds x-request-id


def api_routes(world: World) -> ApiRoutes:
    """Bearer (or Azure ``api-key``) auth, ``req_…`` ids, OpenAI's error body."""
    return ApiRoutes(
        keys=lambda: world.settings.api_keys,
        missing_key=lambda: APIError(
            401,
            "You didn't provide an API key. You need to provide your API key in an Authorization "
            "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        ),
        wrong_key=lambda key: APIError(
            401,
            f"Incorrect API key provided: {key[:3] + '*' * max(0, len(key) - 7) + key[-4:]}.",
            code="invalid_api_key",
        ),
        request_id_prefix="req_",
        request_id_hex=32,
        headers={"openai-processing-ms": "1"},
        key_headers=("api-key",),
        precheck=_azure_api_version,
    )


def _azure_api_version(request: Request) -> None:
    if request.url.path.startswith("/openai/") and "api-version" not in request.query_params:
        raise APIError(404, "Resource not found", type="invalid_request_error", code="404")


def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler in the app's `ApiRoutes`: Azure's api-version check, auth, OpenAI's errors."""

    @wraps(handler)
    async def run(request: Request) -> Response:
        world: World = request.app.state.world
        routes: ApiRoutes = request.app.state.api
        return await routes.answer(request, lambda: handler(request, world))

    return run


async def _body(request: Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise APIError(400, "We could not parse the JSON body of your request.") from None
    if not isinstance(data, dict):
        raise APIError(400, "The request body must be a JSON object.")
    return data


def _page(
    items: Sequence[T], request: Request, *, default_limit: int, max_limit: int = 100
) -> tuple[list[T], bool]:
    """One page of a newest-first list, after the ``after`` cursor."""
    raw_limit = request.query_params.get("limit", str(default_limit))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= max_limit:
        raise APIError(400, f"Invalid limit: must be between 1 and {max_limit}.", param="limit")
    limit = int(raw_limit)
    after = request.query_params.get("after")
    start = 0
    if after:
        ids = [getattr(item, "id") for item in items]  # noqa: B009
        if after not in ids:
            return [], False
        start = ids.index(after) + 1
    return list(items[start : start + limit]), start + limit < len(items)


def _list(data: list[dict[str, Any]], has_more: bool, *, ids: bool = True) -> JSONResponse:
    payload: dict[str, Any] = {"object": "list", "data": data, "has_more": has_more}
    if ids:
        payload["first_id"] = data[0]["id"] if data else None
        payload["last_id"] = data[-1]["id"] if data else None
    return _json(payload)


# ---- files --------------------------------------------------------------------------------------


@endpoint
async def create_file(request: Request, world: World) -> Response:
    form = await request.form(max_part_size=1024 * 1024)
    upload, purpose = form.get("file"), form.get("purpose")
    if not isinstance(upload, UploadFile):
        raise APIError(400, "Missing required parameter: 'file'.", param="file")
    if purpose not in FILE_PURPOSES:
        raise APIError(
            400, f"'{purpose}' is not one of {sorted(FILE_PURPOSES)} - 'purpose'", param="purpose"
        )
    content = await upload.read()
    limit = world.settings.max_file_bytes
    if len(content) > limit:
        raise APIError(
            413,
            f"File is too large ({len(content)} bytes): /v1/files accepts at most {limit} bytes. "
            "Use the Uploads API (POST /v1/uploads) for larger files.",
            param="file",
            code="file_too_large",
        )
    filename = upload.filename or "file"
    _check_fine_tune_filename(filename, str(purpose))
    with world.lock:
        return _json(world.add_file(filename, str(purpose), content).to_api())


def _check_fine_tune_filename(filename: str, purpose: str) -> None:
    if purpose == "fine-tune" and not filename.endswith(".jsonl"):
        raise APIError(
            400,
            f"Invalid file format for Fine-Tuning API. Must be .jsonl (got {filename!r}).",
            param="file",
        )


@endpoint
async def list_files(request: Request, world: World) -> Response:
    purpose = request.query_params.get("purpose")
    order = request.query_params.get("order", "desc")
    with world.lock:
        files = [f for f in world.files.values() if purpose in (None, f.purpose)]
        if order != "asc":
            files.reverse()  # stored oldest first
        page, more = _page(files, request, default_limit=10_000, max_limit=10_000)
        return _list([f.to_api() for f in page], more)


def _file(world: World, file_id: str) -> Any:
    stored = world.files.get(file_id)
    if stored is None:
        raise APIError(404, f"No such File object: {file_id}", param="id")
    return stored


@endpoint
async def retrieve_file(request: Request, world: World) -> Response:
    with world.lock:
        return _json(_file(world, request.path_params["file_id"]).to_api())


@endpoint
async def delete_file(request: Request, world: World) -> Response:
    with world.lock:
        stored = _file(world, request.path_params["file_id"])
        del world.files[stored.id]
        return _json({"id": stored.id, "object": "file", "deleted": True})


@endpoint
async def file_content(request: Request, world: World) -> Response:
    with world.lock:
        stored = _file(world, request.path_params["file_id"])
        return Response(stored.content, media_type="application/octet-stream")


# ---- uploads ------------------------------------------------------------------------------------


@endpoint
async def create_upload(request: Request, world: World) -> Response:
    body = await _body(request)
    for name in ("filename", "purpose", "bytes", "mime_type"):
        if name not in body:
            raise APIError(400, f"Missing required parameter: '{name}'.", param=name)
    purpose, size, mime = body["purpose"], body["bytes"], body["mime_type"]
    if purpose not in UPLOAD_PURPOSES:
        raise APIError(400, f"Invalid purpose {purpose!r} for an Upload.", param="purpose")
    if not isinstance(size, int) or not 0 < size <= world.settings.max_upload_bytes:
        raise APIError(
            400,
            f"Invalid bytes: an Upload holds 1 to {world.settings.max_upload_bytes} bytes.",
            param="bytes",
        )
    if purpose == "fine-tune" and mime not in JSONL_MIME_TYPES:
        raise APIError(
            400,
            f"Invalid mime_type {mime!r} for purpose fine-tune: use text/jsonl.",
            param="mime_type",
        )
    _check_fine_tune_filename(str(body["filename"]), purpose)
    with world.lock:
        now = int(time.time())
        upload = PendingUpload(
            id=world.ids.new("upload_"),
            filename=str(body["filename"]),
            purpose=purpose,
            size=size,
            mime_type=mime,
            created_at=now,
            expires_at=now + 3600,
        )
        world.uploads[upload.id] = upload
        return _json(upload.to_api())


def _pending_upload(world: World, upload_id: str) -> Any:
    upload = world.uploads.get(upload_id)
    if upload is None:
        raise APIError(404, f"No such Upload object: {upload_id}", param="upload_id")
    if upload.to_api()["status"] != "pending":
        raise APIError(
            400, f"Upload {upload_id} is {upload.status}: no parts can be added or completed."
        )
    return upload


@endpoint
async def add_upload_part(request: Request, world: World) -> Response:
    form = await request.form()
    data = form.get("data")
    if not isinstance(data, UploadFile):
        raise APIError(400, "Missing required parameter: 'data'.", param="data")
    chunk = await data.read()
    if len(chunk) > world.settings.max_part_bytes:
        raise APIError(
            400,
            f"Part is too large ({len(chunk)} bytes): each Part holds at most "
            f"{world.settings.max_part_bytes} bytes.",
            param="data",
        )
    with world.lock:
        upload = _pending_upload(world, request.path_params["upload_id"])
        part_id = world.ids.new("part_")
        upload.parts[part_id] = chunk
        return _json(
            {
                "id": part_id,
                "object": "upload.part",
                "created_at": int(time.time()),
                "upload_id": upload.id,
            }
        )


@endpoint
async def complete_upload(request: Request, world: World) -> Response:
    body = await _body(request)
    part_ids = body.get("part_ids")
    if not isinstance(part_ids, list) or not part_ids:
        raise APIError(400, "Missing required parameter: 'part_ids'.", param="part_ids")
    with world.lock:
        upload = _pending_upload(world, request.path_params["upload_id"])
        unknown = [p for p in part_ids if p not in upload.parts]
        if unknown:
            raise APIError(400, f"Unknown part id(s) for this Upload: {unknown}", param="part_ids")
        content = b"".join(upload.parts[p] for p in part_ids)
        if len(content) != upload.size:
            raise APIError(
                400,
                f"The Upload was created for {upload.size} bytes but its parts hold "
                f"{len(content)} bytes.",
                param="part_ids",
            )
        md5 = body.get("md5")
        if md5 and hashlib.md5(content).hexdigest() != md5:
            raise APIError(400, "The md5 checksum does not match the uploaded bytes.", param="md5")
        upload.file = world.add_file(upload.filename, upload.purpose, content)
        upload.status = "completed"
        upload.parts.clear()
        return _json(upload.to_api())


@endpoint
async def cancel_upload(request: Request, world: World) -> Response:
    with world.lock:
        upload = _pending_upload(world, request.path_params["upload_id"])
        upload.status = "cancelled"
        upload.parts.clear()
        return _json(upload.to_api())


# ---- fine-tuning jobs ---------------------------------------------------------------------------


@endpoint
async def create_job(request: Request, world: World) -> Response:
    body = await _body(request)
    settings = world.settings
    if not settings.fine_tuning_enabled:
        raise APIError(
            403,
            "Fine-tuning is not available for this organization: creating fine-tuning jobs is no "
            "longer offered to organizations without recent fine-tuning activity.",
            type="invalid_request_error",
        )
    for name in ("model", "training_file"):
        if not body.get(name):
            raise APIError(400, f"Missing required parameter: '{name}'.", param=name)
    model_name = str(body["model"])
    model = lookup(model_name)
    if model is None:
        raise APIError(
            400,
            f"Model {model_name} is not available for fine-tuning or does not exist.",
            param="model",
            code="model_not_available",
        )
    method, requested, grader = _method(body)
    objective = OBJECTIVES[method]
    if method == "reinforcement" and not body.get("validation_file"):
        raise APIError(
            400,
            "Reinforcement fine-tuning requires a validation_file.",
            param="validation_file",
        )
    if objective not in model.objectives:
        raise APIError(
            400,
            f"Model {model_name} does not support the {method} fine-tuning method.",
            param="method.type",
            code="invalid_method",
        )
    suffix = body.get("suffix")
    if suffix is not None and (not isinstance(suffix, str) or not 1 <= len(suffix) <= 64):
        raise APIError(400, "suffix must be a string of 1 to 64 characters.", param="suffix")
    seed = body.get("seed")
    if seed is not None and (not isinstance(seed, int) or not 0 <= seed <= MAX_SEED):
        raise APIError(400, f"seed must be an integer between 0 and {MAX_SEED}.", param="seed")
    metadata = _metadata(body.get("metadata"))
    integrations = _integrations(body.get("integrations"))
    with world.lock:
        if settings.out_of_quota:
            raise APIError(
                429,
                "You exceeded your current quota, please check your plan and billing details.",
                type="insufficient_quota",
                code="insufficient_quota",
            )
        training = _fine_tune_file(world, body["training_file"], "training_file")
        validation = (
            _fine_tune_file(world, body["validation_file"], "validation_file")
            if body.get("validation_file")
            else None
        )
        check = lambda f: validate_file(  # noqa: E731
            f.content, method, context=model.example_context, min_examples=settings.min_examples
        )
        job = world.new_job(
            model=model_name,
            method=method,
            requested=requested,
            training_file=training,
            validation_file=validation,
            report=check(training),
            validation_report=check(validation) if validation else None,
            suffix=suffix,
            seed=seed,
            metadata=metadata,
            integrations=integrations,
            request=body,
            grader=grader,
        )
        return _json(job.to_api())


def _method(body: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
    method = body.get("method")
    grader: dict[str, Any] | None = None
    if method is not None:
        if not isinstance(method, dict) or method.get("type") not in HYPERPARAMETERS:
            raise APIError(
                400,
                "method.type must be one of 'supervised', 'dpo' or 'reinforcement'.",
                param="method.type",
            )
        kind = str(method["type"])
        settings = method.get(kind) or {}
        if not isinstance(settings, dict):
            raise APIError(400, f"method.{kind} must be an object.", param=f"method.{kind}")
        hyper = settings.get("hyperparameters") or {}
        where = f"method.{kind}.hyperparameters"
        if kind == "reinforcement":
            grader = _grader(settings.get("grader"), "method.reinforcement.grader")
    else:
        kind, hyper, where = "supervised", body.get("hyperparameters") or {}, "hyperparameters"
    unknown = set(hyper) - HYPERPARAMETERS[kind]
    if unknown:
        raise APIError(400, f"Unrecognized hyperparameter(s) {sorted(unknown)}.", param=where)
    _check_range(hyper, "n_epochs", where, int, 1, 50)
    _check_range(hyper, "batch_size", where, int, 1, 256)
    _check_range(hyper, "learning_rate_multiplier", where, float, 0, None)
    _check_range(hyper, "beta", where, float, 0, 2)
    _check_range(hyper, "compute_multiplier", where, float, 0, 10)
    _check_range(hyper, "eval_interval", where, int, 1, None)
    _check_range(hyper, "eval_samples", where, int, 1, None)
    effort = hyper.get("reasoning_effort", "default")
    if effort not in REASONING_EFFORTS:
        raise APIError(
            400,
            f"Invalid reasoning_effort {effort!r}: use one of {list(REASONING_EFFORTS)}.",
            param=f"{where}.reasoning_effort",
        )
    requested = {
        key: hyper.get(key, "default" if key == "reasoning_effort" else "auto")
        for key in sorted(HYPERPARAMETERS[kind])
    }
    return kind, requested, grader


def _grader(grader: Any, param: str) -> dict[str, Any]:
    if grader is None:
        raise APIError(400, "Missing required parameter: 'grader'.", param=param)
    problems = grader_problems(grader)
    if problems:
        shown = "; ".join(p.replace("grader", param, 1) for p in problems[:5])
        raise APIError(400, f"Invalid grader: {shown}", param=param, code="invalid_grader")
    return dict(grader)


def _check_range(
    hyper: dict[str, Any], key: str, where: str, kind: type, low: float, high: float | None
) -> None:
    value = hyper.get(key, "auto")
    if value == "auto":
        return
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    ok = numeric and (kind is float or isinstance(value, int))
    ok = ok and (value >= low if kind is int else value > low) and (high is None or value <= high)
    if not ok:
        bounds = f"between {low} and {high}" if high is not None else f"greater than {low}"
        raise APIError(
            400,
            f"Invalid {key} {value!r}: use 'auto' or a number {bounds}.",
            param=f"{where}.{key}",
        )


def _metadata(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not is_metadata(value):
        raise APIError(
            400,
            "metadata must map at most 16 string keys (64 characters) to string values "
            "(512 characters).",
            param="metadata",
        )
    return dict(value)


def _integrations(value: Any) -> list[dict[str, Any]]:
    if not value:
        return []
    result = []
    for i, item in enumerate(value):
        wandb = item.get("wandb") if isinstance(item, dict) else None
        if not isinstance(item, dict) or item.get("type") != "wandb" or not isinstance(wandb, dict):
            raise APIError(
                400, "Only 'wandb' integrations are supported.", param=f"integrations[{i}]"
            )
        if not wandb.get("project"):
            raise APIError(
                400,
                "Missing required parameter: 'project'.",
                param=f"integrations[{i}].wandb.project",
            )
        result.append({"type": "wandb", "wandb": dict(wandb)})
    return result


def _fine_tune_file(world: World, file_id: Any, param: str) -> Any:
    stored = world.files.get(str(file_id))
    if stored is None:
        raise APIError(400, f"invalid {param}: {file_id}", param=param, code=f"invalid_{param}")
    if stored.purpose != "fine-tune":
        raise APIError(
            400,
            f"File {stored.id} has purpose {stored.purpose!r}; upload it with purpose 'fine-tune'.",
            param=param,
            code=f"invalid_{param}",
        )
    return stored


def _job(world: World, request: Request) -> Any:
    job_id = request.path_params["job_id"]
    job = world.jobs.get(job_id)
    if job is None:
        raise APIError(
            404,
            f"Could not find fine-tuning job {job_id}.",
            param="fine_tuning_job_id",
            code="fine_tune_not_found",
        )
    job.advance(world)
    return job


@endpoint
async def list_jobs(request: Request, world: World) -> Response:
    wanted = {
        key[len("metadata[") : -1]: value
        for key, value in request.query_params.items()
        if key.startswith("metadata[") and key.endswith("]")
    }
    null_metadata = request.query_params.get("metadata") == "null"
    with world.lock:
        world.advance_all()
        jobs = [
            job
            for job in reversed(list(world.jobs.values()))
            if (job.metadata is None if null_metadata else True)
            and all((job.metadata or {}).get(k) == v for k, v in wanted.items())
        ]
        page, more = _page(jobs, request, default_limit=20)
        return _list([job.to_api() for job in page], more, ids=False)


@endpoint
async def retrieve_job(request: Request, world: World) -> Response:
    with world.lock:
        return _json(_job(world, request).to_api())


def _act(
    request: Request, world: World, allowed: frozenset[str], refusal: str, act: Callable[..., Any]
) -> Response:
    """Cancel, pause or resume a job in one of the ``allowed`` statuses (else 400 ``refusal``)."""
    with world.lock:
        job = _job(world, request)
        if job.status not in allowed:
            raise APIError(400, refusal.format(id=job.id, status=job.status))
        act(job)
        return _json(job.to_api())


@endpoint
async def cancel_job(request: Request, world: World) -> Response:
    refusal = "Job {id} has already {status}; it cannot be cancelled."
    return _act(request, world, ACTIVE, refusal, lambda job: job.cancel())


@endpoint
async def pause_job(request: Request, world: World) -> Response:
    refusal = "Only running jobs can be paused; job {id} is {status}."
    return _act(request, world, frozenset({"running"}), refusal, lambda job: job.pause())


@endpoint
async def resume_job(request: Request, world: World) -> Response:
    refusal = "Only paused jobs can be resumed; job {id} is {status}."
    return _act(request, world, frozenset({"paused"}), refusal, lambda job: job.resume())


@endpoint
async def list_events(request: Request, world: World) -> Response:
    with world.lock:
        job = _job(world, request)
        page, more = _page(list(reversed(job.events)), request, default_limit=20)
        return _list([event.to_api() for event in page], more, ids=False)


@endpoint
async def list_checkpoints(request: Request, world: World) -> Response:
    with world.lock:
        job = _job(world, request)
        page, more = _page(list(reversed(job.checkpoints)), request, default_limit=10)
        return _list([checkpoint.to_api() for checkpoint in page], more)


# ---- graders (alpha) ----------------------------------------------------------------------------


@endpoint
async def validate_grader(request: Request, world: World) -> Response:
    body = await _body(request)
    return _json({"grader": _grader(body.get("grader"), "grader")})


@endpoint
async def run_grader_endpoint(request: Request, world: World) -> Response:
    body = await _body(request)
    grader = _grader(body.get("grader"), "grader")
    sample_text = body.get("model_sample")
    if not isinstance(sample_text, str):
        raise APIError(400, "Missing required parameter: 'model_sample'.", param="model_sample")
    item = body.get("item") or {}
    sample: dict[str, Any] = {"output_text": sample_text}
    try:
        sample["output_json"] = json.loads(sample_text)
    except ValueError:
        pass
    errors: dict[str, Any] = dict.fromkeys(_GRADER_ERRORS, False)
    errors.update(
        python_grader_server_error_type=None,
        python_grader_runtime_error_details=None,
        model_grader_server_error_details=None,
    )
    try:
        reward = run_grader(grader, sample, item if isinstance(item, dict) else {})
    except Exception as exc:  # a grader's own failure is reported, as OpenAI does
        reward = 0.0
        key = "python_grader_runtime_error" if grader["type"] == "python" else "other_error"
        errors[key] = True
        if key == "python_grader_runtime_error":
            errors["python_grader_runtime_error_details"] = f"{type(exc).__name__}: {exc}"
    return _json(
        {
            "reward": reward,
            "metadata": {
                "name": grader.get("name"),
                "type": grader.get("type"),
                "errors": errors,
                "execution_time": 0.001,
                "scores": {},
                "token_usage": None,
                "sampled_model_name": None,
            },
            "sub_rewards": {},
            "model_grader_token_usage_per_model": {},
        }
    )


_GRADER_ERRORS = (
    "formula_parse_error",
    "sample_parse_error",
    "truncated_observation_error",
    "unresponsive_reward_error",
    "invalid_variable_error",
    "other_error",
    "python_grader_server_error",
    "python_grader_runtime_error",
    "model_grader_server_error",
    "model_grader_refusal_error",
    "model_grader_parse_error",
)


# ---- chat completions ---------------------------------------------------------------------------


@endpoint
async def chat_completions(request: Request, world: World) -> Response:
    body = await _body(request)
    model = str(request.path_params.get("deployment") or body.get("model") or "")
    messages = body.get("messages")
    if not model:
        raise APIError(400, "Missing required parameter: 'model'.", param="model")
    if not isinstance(messages, list) or not messages:
        raise APIError(400, "Missing required parameter: 'messages'.", param="messages")
    if body.get("stream"):
        raise APIError(
            400, "The tunesdk emulator does not stream chat completions.", param="stream"
        )
    with world.lock:
        world.advance_all()
        job_id = world.models.get(model)
        servable = job_id is not None or (not model.startswith("ft:") and lookup(model) is not None)
        if not servable:
            raise APIError(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                code="model_not_found",
            )
    prompt = next(
        (
            str(m.get("content"))
            for m in reversed(messages)
            if isinstance(m, dict) and m.get("role") == "user"
        ),
        "",
    )
    origin = f"fine-tuned by {job_id}" if job_id else "base model"
    answer = f"[{model}] ({origin}) You said: {prompt}"
    prompt_tokens = sum(
        estimate_tokens(str(m.get("content", ""))) for m in messages if isinstance(m, dict)
    )
    usage = usage_object(prompt_tokens, estimate_tokens(answer))
    return _json(completion_object(model, [(answer, "stop")], usage))


async def _invalid_url(request: Request, exc: Exception) -> Response:
    message = f"Invalid URL ({request.method} {request.url.path})"
    routes: ApiRoutes = request.app.state.api
    return routes.error(APIError(404, message))


def _routes() -> list[BaseRoute]:
    return [
        Route("/files", create_file, methods=["POST"]),
        Route("/files", list_files, methods=["GET"]),
        Route("/files/{file_id}", retrieve_file, methods=["GET"]),
        Route("/files/{file_id}", delete_file, methods=["DELETE"]),
        Route("/files/{file_id}/content", file_content, methods=["GET"]),
        Route("/uploads", create_upload, methods=["POST"]),
        Route("/uploads/{upload_id}/parts", add_upload_part, methods=["POST"]),
        Route("/uploads/{upload_id}/complete", complete_upload, methods=["POST"]),
        Route("/uploads/{upload_id}/cancel", cancel_upload, methods=["POST"]),
        Route("/fine_tuning/jobs", create_job, methods=["POST"]),
        Route("/fine_tuning/jobs", list_jobs, methods=["GET"]),
        Route("/fine_tuning/jobs/{job_id}", retrieve_job, methods=["GET"]),
        Route("/fine_tuning/jobs/{job_id}/cancel", cancel_job, methods=["POST"]),
        Route("/fine_tuning/jobs/{job_id}/pause", pause_job, methods=["POST"]),
        Route("/fine_tuning/jobs/{job_id}/resume", resume_job, methods=["POST"]),
        Route("/fine_tuning/jobs/{job_id}/events", list_events, methods=["GET"]),
        Route("/fine_tuning/jobs/{job_id}/checkpoints", list_checkpoints, methods=["GET"]),
        Route("/fine_tuning/alpha/graders/run", run_grader_endpoint, methods=["POST"]),
        Route("/fine_tuning/alpha/graders/validate", validate_grader, methods=["POST"]),
        Route("/chat/completions", chat_completions, methods=["POST"]),
    ]


def create_app(world: World | None = None) -> Starlette:
    """OpenAI's API as an ASGI app, under ``/v1`` (and ``/openai`` for Azure); wrap it in
    `tunesdk.emulation.FaultMiddleware` to inject faults."""
    azure = [
        *_routes(),
        Route("/deployments/{deployment}/chat/completions", chat_completions, methods=["POST"]),
    ]
    app = Starlette(routes=[Mount("/v1", routes=_routes()), Mount("/openai", routes=azure)])
    app.state.world = world or World()
    app.state.api = api_routes(app.state.world)
    app.add_exception_handler(404, _invalid_url)
    app.add_exception_handler(405, _invalid_url)
    return app
