"""``download()``: a trained adapter's files from the service to a local PEFT folder.

At the end of training the loop exports the adapter with ``save_weights_external`` under the
same name as the sampler weights (``tinker://<run>/external_weights/<name>``); download asks for
the files' signed URLs (``RestClient.get_external_weights_urls``) and fetches each with httpx.
The folder is then a `LocalModel` (``kind="adapter"``) that the trl backend loads, chats with
and merges (transformers + PEFT).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tunesdk.errors import JobError, ProviderError
from tunesdk.models import LocalModel, ProviderModel

SAMPLER_SEGMENT = "/sampler_weights/"
EXTERNAL_SEGMENT = "/external_weights/"


def external_path(model_id: str) -> str:
    """The export of a sampler-weights path (same run, same name)."""
    if model_id.startswith("tinker://") and SAMPLER_SEGMENT in model_id:
        return model_id.replace(SAMPLER_SEGMENT, EXTERNAL_SEGMENT, 1)
    if model_id.startswith("tinker://") and EXTERNAL_SEGMENT in model_id:
        return model_id
    raise JobError(
        f"{model_id!r} is not sampler weights of the tinker backend, so it has no export",
        where="model.download",
        fix="download a model a tinker run returned (tinker://<run>/sampler_weights/<name>)",
    )


def fetch(rest: Any, model: ProviderModel, path: Path, *, timeout: float = 120.0) -> LocalModel:
    """Download the export of ``model`` into ``path`` with the client's ``RestClient``."""
    source = external_path(model.model_id)
    try:
        answer = rest.get_external_weights_urls(source).result()
    except Exception as exc:  # the SDK's own NotFoundError etc.: one readable line
        raise ProviderError(
            f"the service has no downloadable export {source} ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''})",
            provider="tinker",
            fix="only runs of this backend that finished export their adapter "
            "(save_weights_external); the service must offer external weights",
        ) from None
    target = Path(path)
    target.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    with httpx.Client(timeout=timeout, follow_redirects=True) as client:
        for relative, url in sorted(answer.urls.items()):
            destination = (target / relative).resolve()
            if root not in destination.parents:
                raise ProviderError(
                    f"the service named a file outside the download folder: {relative!r}",
                    provider="tinker",
                )
            destination.parent.mkdir(parents=True, exist_ok=True)
            with client.stream("GET", url) as response:
                response.raise_for_status()
                with open(destination, "wb") as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)
    if not (target / "adapter_config.json").is_file():
        raise ProviderError(
            f"the export {source} holds no PEFT adapter (no adapter_config.json)",
            provider="tinker",
        )
    handle = LocalModel(path=str(root), base_model=model.base_model, kind="adapter", engine="trl")
    handle.save_metadata()
    return handle


__all__ = ["external_path", "fetch"]
