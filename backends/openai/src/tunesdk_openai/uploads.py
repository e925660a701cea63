"""Streaming a fine-tuning file to OpenAI: one multipart ``POST /files`` up to the single-file
limit, the Uploads API (create, parts, complete) above it.

Neither path holds the whole file in memory: the Files API gets an open file handle that httpx
streams, the Uploads API gets one part at a time. Each part is retried on its own, so a fault in
part 7 of 40 re-sends part 7, not the whole file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
Retrying = Callable[[Callable[[], T]], T]
MIME_TYPE = "text/jsonl"
#: the Uploads API takes parts of at most 64 MB
MAX_PART_BYTES = 64 * 1024**2


def upload_jsonl(
    client: Any,
    path: Path,
    filename: str,
    *,
    threshold: int,
    part_bytes: int,
    retrying: Retrying[Any],
) -> str:
    """Upload ``path`` as ``filename`` with purpose fine-tune; return the file id."""
    if path.stat().st_size <= threshold:
        with path.open("rb") as handle:
            created = client.files.create(file=(filename, handle, MIME_TYPE), purpose="fine-tune")
        return str(created.id)
    return _upload_in_parts(client, path, filename, part_bytes=part_bytes, retrying=retrying)


def find_uploaded(client: Any, filename: str, size: int) -> str | None:
    """The id of a fine-tune file already uploaded under ``filename`` with ``size`` bytes."""
    for stored in client.files.list(purpose="fine-tune", limit=100).data:
        if stored.filename == filename and stored.bytes == size:
            return str(stored.id)
    return None


def _add_part(client: Any, upload_id: str, chunk: bytes, retrying: Retrying[Any]) -> str:
    part = retrying(lambda: client.uploads.parts.create(upload_id, data=chunk))
    return str(part.id)


def _upload_in_parts(
    client: Any, path: Path, filename: str, *, part_bytes: int, retrying: Retrying[Any]
) -> str:
    size = path.stat().st_size
    part_bytes = min(part_bytes, MAX_PART_BYTES)
    upload = retrying(
        lambda: client.uploads.create(
            bytes=size, filename=filename, mime_type=MIME_TYPE, purpose="fine-tune"
        )
    )
    digest = hashlib.md5()
    part_ids: list[str] = []
    with path.open("rb") as handle:
        while chunk := handle.read(part_bytes):
            digest.update(chunk)
            part_ids.append(_add_part(client, upload.id, chunk, retrying))
    attempted = False

    def complete() -> str:
        # a complete whose response was lost has already made the file: find it, don't redo it
        nonlocal attempted
        if attempted:
            found = find_uploaded(client, filename, size)
            if found:
                return found
        attempted = True
        done = client.uploads.complete(upload.id, part_ids=part_ids, md5=digest.hexdigest())
        return str(done.file.id)

    return str(retrying(complete))


__all__ = ["MIME_TYPE", "find_uploaded", "upload_jsonl"]
