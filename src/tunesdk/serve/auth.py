"""Who is asking: a bearer key becomes an owner id; each owner sees only what it created.

The owner id is a hash of the key, so run files and the serve index never hold a key. Without
configured keys (a loopback-only server) every request is the one owner ``"local"`` and any
``Authorization`` header is ignored.
"""

from __future__ import annotations

import hashlib
import secrets

from starlette.requests import Request

from tunesdk.serve.config import ServeConfig
from tunesdk.serve.errors import ServeError

LOCAL_OWNER = "local"


def owner_id(key: str) -> str:
    """A stable, non-reversible id for an API key (``key_`` + 16 hex digits of its SHA-256)."""
    return "key_" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def presented_key(request: Request) -> str:
    """The key in ``Authorization: Bearer KEY`` (the ``openai`` SDK sends it so), else ``""``."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def authenticate(request: Request, config: ServeConfig) -> str:
    """The owner id of ``request``; 401 in OpenAI's shape for a missing or unknown key."""
    if not config.authenticated:
        return LOCAL_OWNER
    key = presented_key(request)
    if not key:
        raise ServeError(
            401,
            "You didn't provide an API key. Send it as 'Authorization: Bearer KEY' (the openai"
            " SDK does this with api_key=...).",
            code="missing_api_key",
        )
    if not any(secrets.compare_digest(key, accepted) for accepted in config.api_keys):
        raise ServeError(401, "Incorrect API key provided.", code="invalid_api_key")
    return owner_id(key)


__all__ = ["LOCAL_OWNER", "authenticate", "owner_id", "presented_key"]
