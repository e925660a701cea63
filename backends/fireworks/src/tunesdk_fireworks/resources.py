"""Fireworks resource names and ids.

Fireworks resources are named ``accounts/<account>/<collection>/<id>``; an id is 1-63 characters of
``a-z``, ``0-9`` and ``-`` that neither starts nor ends with ``-`` (docs.fireworks.ai, "Resource
names and IDs"). tunesdk derives every id it creates from the run id, so a retried request names
the same resource and a lost response can be reconciled by name.
"""

from __future__ import annotations

import re

RESOURCE_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
MAX_ID_LENGTH = 63


def is_resource_id(text: str) -> bool:
    """True when ``text`` is a valid Fireworks resource id."""
    return bool(RESOURCE_ID.match(text))


def to_resource_id(*parts: str, keep_last: bool = True) -> str:
    """Join ``parts`` into a valid resource id (lowercase, ``-`` separated, at most 63 characters).

    With ``keep_last`` the last part (the run id) survives truncation whole, so the id still
    identifies its run.
    """
    cleaned = [_clean(part) for part in parts]
    cleaned = [part for part in cleaned if part]
    if not cleaned:
        raise ValueError("no usable characters for a resource id")
    text = "-".join(cleaned)
    if len(text) > MAX_ID_LENGTH:
        if keep_last and len(cleaned) > 1:
            tail = cleaned[-1][:MAX_ID_LENGTH]
            room = MAX_ID_LENGTH - len(tail) - 1
            head = "-".join(cleaned[:-1])[:room].strip("-") if room > 0 else ""
            text = f"{head}-{tail}" if head else tail
        else:
            text = text[:MAX_ID_LENGTH]
    return text.strip("-")


def _clean(part: str) -> str:
    return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", part.lower())).strip("-")


def resource_name(account: str, collection: str, resource_id: str) -> str:
    """``accounts/<account>/<collection>/<id>``."""
    return f"accounts/{account}/{collection}/{resource_id}"


def resource_id_of(name: str) -> str:
    """The last segment of a resource name (an id passes through)."""
    return name.rstrip("/").rsplit("/", 1)[-1]


__all__ = ["is_resource_id", "resource_id_of", "resource_name", "to_resource_id"]
