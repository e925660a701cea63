"""OpenAI's chat completion objects, as shared/specs/openai/openapi.yaml defines them:
``chat.completion`` (`completion_object`) and, streamed, ``chat.completion.chunk``
(`chunk_object`) as server-sent events ending with ``data: [DONE]`` (`sse_data`, `DONE`).

Plain builders over plain values (no model, no request), so any OpenAI-shaped server — this one,
the OpenAI emulator of tunesdk-openai — answers in exactly one shape.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from typing import Any

#: the last message of a stream
DONE = b"data: [DONE]\n\n"


def completion_id() -> str:
    """A fresh ``chatcmpl-<24 hex>`` id (every chunk of one stream shares it)."""
    return f"chatcmpl-{secrets.token_hex(12)}"


def usage_object(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def completion_object(
    model: str,
    choices: Sequence[tuple[str, str]],
    usage: dict[str, int] | None,
    *,
    id: str | None = None,
    created: int | None = None,
) -> dict[str, Any]:
    """A ``chat.completion``: ``choices`` are (text, finish_reason); ``usage`` left out when
    None (the spec makes it optional: better absent than made up)."""
    body: dict[str, Any] = {
        "id": id or completion_id(),
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": model,
        "choices": [
            {
                "index": index,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "finish_reason": finish_reason,
                "logprobs": None,
            }
            for index, (text, finish_reason) in enumerate(choices)
        ],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def chunk_object(
    id: str,
    created: int,
    model: str,
    choices: list[dict[str, Any]],
    *,
    usage: dict[str, int] | None = None,
    include_usage: bool = False,
) -> dict[str, Any]:
    """A ``chat.completion.chunk``; with ``include_usage`` (``stream_options``) every chunk has
    ``usage``, null except on the last one."""
    body: dict[str, Any] = {
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": choices,
    }
    if include_usage:
        body["usage"] = usage
    return body


def delta_choice(
    index: int, *, content: str | None = None, role: bool = False, finish_reason: str | None = None
) -> dict[str, Any]:
    """One choice of a chunk: the role (first chunk), some text, or the finish reason (last)."""
    delta: dict[str, Any] = {}
    if role:
        delta["role"] = "assistant"
    if content is not None:
        delta["content"] = content
    return {"index": index, "delta": delta, "finish_reason": finish_reason, "logprobs": None}


def sse_data(payload: dict[str, Any]) -> bytes:
    """One server-sent event carrying ``payload`` (``data: <json>``, a blank line)."""
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


__all__ = [
    "DONE",
    "chunk_object",
    "completion_id",
    "completion_object",
    "delta_choice",
    "sse_data",
    "usage_object",
]
