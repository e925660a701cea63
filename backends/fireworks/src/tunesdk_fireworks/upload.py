"""Uploading one JSONL file as a Fireworks dataset, resumably and without reading it into memory.

Fireworks' documented flow (docs.fireworks.ai "Fine-tuning via API"): create the dataset record,
then either ``:upload`` (multipart, files up to 150 MB) or, for larger files, ``:getUploadEndpoint``
-> ``PUT`` to the signed URL -> ``:validateUpload``; the dataset is usable once its state is
``READY``. Every step tolerates a repeat, so a retried upload after a lost response finishes the
same dataset instead of failing or creating another.

The large-file path follows ``fireworks.lib.dataset_upload.upload_dataset_shards`` (same calls,
same signed headers) with two differences: the body is streamed in 1 MiB chunks with an explicit
Content-Length, and plain-http signed URLs are accepted for loopback hosts only (the emulator).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from tunesdk.errors import ProviderError

if TYPE_CHECKING:
    from fireworks import Fireworks

PROVIDER = "fireworks"
CHUNK = 1024 * 1024
SIGNED_PUT_TIMEOUT = httpx.Timeout(600.0, connect=30.0)
READY_TIMEOUT_S = 1800.0


def upload_dataset(
    client: Fireworks,
    dataset_id: str,
    path: Path,
    *,
    display_name: str,
    single_request_limit: int,
) -> None:
    """Create (or reuse) dataset ``dataset_id`` and upload ``path`` into it, unless it is READY
    already; the caller waits for READY (`dataset_ready`)."""
    from fireworks import ConflictError

    examples = _count_lines(path)
    try:
        client.datasets.create(
            dataset_id=dataset_id,
            dataset={
                "display_name": display_name,
                "user_uploaded": {},
                "example_count": str(examples),
            },
        )
    except ConflictError:
        pass  # an earlier attempt of this run created it; finish that one
    dataset = client.datasets.get(dataset_id)
    if dataset.state == "READY":
        return
    size = path.stat().st_size
    if size <= single_request_limit:
        with path.open("rb") as handle:
            client.datasets.upload(dataset_id, file=(path.name, handle, "application/jsonl"))
    else:
        _upload_signed(client, dataset_id, path, size)


def _upload_signed(client: Fireworks, dataset_id: str, path: Path, size: int) -> None:
    response = client.datasets.get_upload_endpoint(
        dataset_id, filename_to_size={path.name: str(size)}
    )
    url = (response.filename_to_signed_urls or {}).get(path.name)
    if not url:
        raise ProviderError(
            f"Fireworks returned no signed upload URL for {path.name}", provider=PROVIDER
        )
    _check_signed_url(url)
    # A plain client: the signed URL must never receive the Fireworks API key.
    with httpx.Client(timeout=SIGNED_PUT_TIMEOUT) as http:
        put = http.put(
            url,
            content=_chunks(path),
            headers={
                # Both are part of the URL's signature.
                "Content-Type": "application/octet-stream",
                "X-Goog-Content-Length-Range": f"{size},{size}",
                "Content-Length": str(size),
            },
        )
    if put.status_code >= 400:
        raise ProviderError(
            f"uploading {path.name} to its signed URL failed: {put.text[:300]}",
            provider=PROVIDER,
            status=put.status_code,
        )
    client.datasets.validate_upload(dataset_id, body={})


def _check_signed_url(url: str) -> None:
    parsed = httpx.URL(url)
    if parsed.scheme == "https":
        return
    if parsed.scheme == "http" and _is_loopback(parsed.host):
        return
    raise ProviderError(
        f"Fireworks returned a non-https upload URL ({parsed.scheme}://{parsed.host}); refusing to "
        "send the dataset over it",
        provider=PROVIDER,
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def _count_lines(path: Path) -> int:
    count = 0
    with path.open("rb") as handle:
        for line in handle:
            count += bool(line.strip())
    return count


def dataset_ready(client: Fireworks, dataset_id: str) -> str | None:
    """The dataset's name once READY; None while Fireworks still processes it; ProviderError if
    Fireworks rejected it."""
    dataset = client.datasets.get(dataset_id)
    if dataset.state == "READY":
        return str(dataset.name)
    status = dataset.status
    if status is not None and status.code not in (None, "OK"):
        raise ProviderError(
            f"Fireworks rejected dataset {dataset.name}: {status.message}",
            provider=PROVIDER,
            code=status.code,
            fix="fix the data (tunesdk validated it locally; the message says what Fireworks "
            "checks beyond that) and submit again",
        )
    return None


__all__ = ["READY_TIMEOUT_S", "dataset_ready", "upload_dataset"]
