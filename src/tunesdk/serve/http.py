"""What the OpenAI route modules share: JSON bodies, ``limit``/``after`` query parameters, list
objects (``has_more``, ``first_id``, ``last_id``) and ids that never name a path."""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from tunesdk.serve.errors import bad_request

#: generated object ids: a prefix and hex digits, nothing a file system could read as a path
_ID = re.compile(r"[a-z]+[-_][0-9a-f]{24}")


def new_id(prefix: str) -> str:
    """A fresh object id, e.g. ``file-<24 hex>`` (``prefix`` includes its separator)."""
    return prefix + secrets.token_hex(12)


def is_object_id(text: str, prefix: str) -> bool:
    """True when ``text`` is an id this server generated with ``prefix``."""
    return text.startswith(prefix) and _ID.fullmatch(text) is not None


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object; 400 for anything else."""
    raw = await request.body()
    try:
        data = json.loads(raw or b"{}")
    except RecursionError:
        # nesting deeper than Python's stack: json's C decoder gives up; a 400, not a 500
        raise bad_request("The JSON body of your request is nested too deeply.") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise bad_request(
            "We could not parse the JSON body of your request. The body must be one JSON object"
            " (Content-Type: application/json)."
        ) from None
    if not isinstance(data, dict):
        raise bad_request("The request body must be a JSON object.")
    return data


def limit_param(request: Request, default: int, maximum: int = 100) -> int:
    """The ``limit`` query parameter: 1 to ``maximum`` (400 naming ``limit`` otherwise)."""
    raw = request.query_params.get("limit")
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise bad_request(
            f"Invalid limit {raw!r}: use a whole number between 1 and {maximum}.", param="limit"
        )
    return int(raw)


def list_object(data: list[dict[str, Any]], has_more: bool, *, ids: bool = True) -> dict[str, Any]:
    """OpenAI's list object; ``ids`` adds ``first_id``/``last_id`` (``None`` when empty)."""
    payload: dict[str, Any] = {"object": "list", "data": data, "has_more": has_more}
    if ids:
        payload["first_id"] = data[0]["id"] if data else None
        payload["last_id"] = data[-1]["id"] if data else None
    return payload


def answer(payload: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(payload, status_code=status)


__all__ = ["answer", "is_object_id", "json_body", "limit_param", "list_object", "new_id"]
