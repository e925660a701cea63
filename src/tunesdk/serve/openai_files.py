"""OpenAI's Files and Uploads APIs: ``/v1/files`` and ``/v1/uploads``.

Each file is owned by the key that uploaded it (``ctx.ownership`` kinds ``"file"`` and
``"upload"``); another key's id is answered 404 like an unknown one. Multipart bodies are parsed
by Starlette, which spools file parts over 1 MiB to a temporary file, so a 512 MB upload is never
held in memory; the copy into the store runs in a worker thread. Size limits: `tunesdk.serve.limits`
(the whole body) plus the declared ``bytes`` of an Upload.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from tunesdk.serve.context import ServeContext
from tunesdk.serve.errors import ServeError, bad_request, not_found
from tunesdk.serve.file_store import read_chunks
from tunesdk.serve.http import answer, json_body, limit_param, list_object

FILE_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
UPLOAD_PURPOSES = ("assistants", "batch", "fine-tune", "vision")
JSONL_MIME_TYPES = ("text/jsonl", "application/jsonl", "application/x-ndjson", "application/json")
#: multipart form parts that are not files (``purpose``) stay small
FIELD_LIMIT = 64 * 1024


def _check_purpose(purpose: Any, allowed: tuple[str, ...]) -> str:
    if not isinstance(purpose, str) or not purpose:
        raise bad_request("Missing required parameter: 'purpose'.", param="purpose")
    if purpose not in allowed:
        raise bad_request(
            f"Invalid purpose {purpose!r}: use one of {', '.join(allowed)}.", param="purpose"
        )
    return purpose


def _check_fine_tune_name(filename: str, purpose: str, param: str) -> None:
    if purpose == "fine-tune" and not filename.lower().endswith(".jsonl"):
        raise bad_request(
            f"Invalid file format for fine-tuning: {filename!r} must be a .jsonl file (one JSON"
            " example per line).",
            param=param,
        )


def routes(ctx: ServeContext) -> list[BaseRoute]:
    store = ctx.files

    def owned_file(owner: str, file_id: str) -> dict[str, Any]:
        meta = store.get(file_id) if ctx.ownership.owner_of("file", file_id) == owner else None
        if meta is None:
            raise not_found("file", file_id, param="file_id")
        return meta

    async def create_file(request: Request) -> Response:
        owner = ctx.owner(request)
        form = await request.form(max_files=1, max_fields=8, max_part_size=FIELD_LIMIT)
        try:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise bad_request("Missing required parameter: 'file'.", param="file")
            purpose = _check_purpose(form.get("purpose"), FILE_PURPOSES)
            filename = upload.filename or "file"
            _check_fine_tune_name(filename, purpose, "file")
            meta = await run_in_threadpool(store.add, filename, purpose, read_chunks(upload.file))
        finally:
            await form.close()
        ctx.ownership.claim("file", meta["id"], owner, time.time())
        return answer(meta)

    async def list_files(request: Request) -> Response:
        owner = ctx.owner(request)
        purpose = request.query_params.get("purpose")
        order = request.query_params.get("order", "desc")
        if order not in ("asc", "desc"):
            raise bad_request(f"Invalid order {order!r}: use 'asc' or 'desc'.", param="order")
        limit = limit_param(request, default=10_000, maximum=10_000)
        after = request.query_params.get("after") or None
        if order == "desc" and not purpose:
            # the common case, one indexed page: newest first after the cursor
            owned = ctx.ownership.list("file", owner, limit=limit + 1, after=after)
            ids, start = [row.object_id for row in owned], 0
        else:
            owned = ctx.ownership.list("file", owner)  # newest first
            if order == "asc":
                owned.reverse()
            ids = [row.object_id for row in owned]
            start = ids.index(after) + 1 if after in ids else (len(ids) if after else 0)
        page: list[dict[str, Any]] = []
        more = False
        for file_id in ids[start:]:
            meta = store.get(file_id)
            if meta is None or (purpose and meta["purpose"] != purpose):
                continue
            if len(page) == limit:
                more = True
                break
            page.append(meta)
        return answer(list_object(page, more))

    async def retrieve_file(request: Request) -> Response:
        return answer(owned_file(ctx.owner(request), request.path_params["file_id"]))

    async def delete_file(request: Request) -> Response:
        owner = ctx.owner(request)
        meta = owned_file(owner, request.path_params["file_id"])
        await run_in_threadpool(store.delete, meta["id"])
        ctx.ownership.release("file", meta["id"])
        return answer({"id": meta["id"], "object": "file", "deleted": True})

    async def file_content(request: Request) -> Response:
        meta = owned_file(ctx.owner(request), request.path_params["file_id"])
        path = store.path(meta["id"])
        if path is None or not path.is_file():
            raise not_found("file", meta["id"], param="file_id")
        return FileResponse(path, media_type="application/octet-stream")

    # ---- uploads ------------------------------------------------------------------------------

    def owned_upload(owner: str, upload_id: str, *, pending: bool = True) -> dict[str, Any]:
        found = (
            store.upload(upload_id)
            if ctx.ownership.owner_of("upload", upload_id) == owner
            else None
        )
        if found is None:
            raise not_found("upload", upload_id, param="upload_id")
        if pending and found["status"] != "pending":
            raise bad_request(
                f"Upload {upload_id} is {found['status']}: parts can be added to, and only a"
                " pending upload can be completed or cancelled.",
                param="upload_id",
            )
        return found

    async def create_upload(request: Request) -> Response:
        owner = ctx.owner(request)
        body = await json_body(request)
        for name in ("filename", "purpose", "bytes", "mime_type"):
            if name not in body:
                raise bad_request(f"Missing required parameter: '{name}'.", param=name)
        purpose = _check_purpose(body["purpose"], UPLOAD_PURPOSES)
        filename, size, mime = body["filename"], body["bytes"], body["mime_type"]
        if not isinstance(filename, str) or not filename:
            raise bad_request("filename must be a non-empty string.", param="filename")
        if not isinstance(mime, str):
            raise bad_request("mime_type must be a string.", param="mime_type")
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise bad_request("bytes must be a whole number of bytes, at least 1.", param="bytes")
        limit = ctx.config.max_upload_bytes
        if size > limit:
            raise ServeError(
                413,
                f"The upload is too large ({size} bytes): this server accepts uploads of at most"
                f" {limit} bytes.",
                param="bytes",
                code="request_too_large",
            )
        if purpose == "fine-tune" and mime not in JSONL_MIME_TYPES:
            raise bad_request(
                f"Invalid mime_type {mime!r} for purpose 'fine-tune': use text/jsonl.",
                param="mime_type",
            )
        _check_fine_tune_name(filename, purpose, "filename")
        upload = store.create_upload(filename, purpose, size, mime)
        ctx.ownership.claim("upload", upload["id"], owner, time.time())
        return answer(upload)

    async def add_part(request: Request) -> Response:
        owner = ctx.owner(request)
        upload = owned_upload(owner, request.path_params["upload_id"])
        form = await request.form(max_files=1, max_fields=8, max_part_size=FIELD_LIMIT)
        try:
            data = form.get("data")
            if not isinstance(data, UploadFile):
                raise bad_request("Missing required parameter: 'data'.", param="data")
            part = await run_in_threadpool(store.add_part, upload["id"], data.file)
        finally:
            await form.close()
        return answer(part)

    async def complete_upload(request: Request) -> Response:
        owner = ctx.owner(request)
        body = await json_body(request)
        upload = owned_upload(owner, request.path_params["upload_id"])
        part_ids = body.get("part_ids")
        if (
            not isinstance(part_ids, list)
            or not part_ids
            or not all(isinstance(p, str) for p in part_ids)
        ):
            raise bad_request(
                "Missing required parameter: 'part_ids' (the ordered list of part ids).",
                param="part_ids",
            )
        md5 = body.get("md5")
        if md5 is not None and not isinstance(md5, str):
            raise bad_request("md5 must be a hex string.", param="md5")
        done = await run_in_threadpool(store.complete, upload, part_ids, md5)
        ctx.ownership.claim("file", done["file"]["id"], owner, time.time())
        return answer(done)

    async def cancel_upload(request: Request) -> Response:
        upload = owned_upload(ctx.owner(request), request.path_params["upload_id"])
        return answer(await run_in_threadpool(store.cancel_upload, upload))

    return [
        Route("/v1/files", create_file, methods=["POST"]),
        Route("/v1/files", list_files, methods=["GET"]),
        Route("/v1/files/{file_id}", retrieve_file, methods=["GET"]),
        Route("/v1/files/{file_id}", delete_file, methods=["DELETE"]),
        Route("/v1/files/{file_id}/content", file_content, methods=["GET"]),
        Route("/v1/uploads", create_upload, methods=["POST"]),
        Route("/v1/uploads/{upload_id}/parts", add_part, methods=["POST"]),
        Route("/v1/uploads/{upload_id}/complete", complete_upload, methods=["POST"]),
        Route("/v1/uploads/{upload_id}/cancel", cancel_upload, methods=["POST"]),
    ]


__all__ = ["FILE_PURPOSES", "UPLOAD_PURPOSES", "routes"]
