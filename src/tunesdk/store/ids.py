"""The run id grammar: ``<backend>-<YYYYmmdd>-<HHMMSS>-<6 hex>``, e.g. ``trl-20261201-204146-a1763f``.

Every id or prefix that comes from outside (a CLI argument, ``Run.attach``) is checked against this
grammar before it touches the file system, so no id can name a path outside the store (``/``,
``..``, an absolute path) and no prefix is read as a glob pattern.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

#: the longest id or prefix looked up (real ids are well under this)
MAX_ID_LENGTH = 128
_BACKEND_PART = 40

RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*-\d{8}-\d{6}-[0-9a-f]{6}")
_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def new_run_id(backend: str, when: datetime | None = None) -> str:
    """A fresh id for a run of ``backend`` (characters outside the grammar become ``_``)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", backend).replace("..", "_")[:_BACKEND_PART]
    if not safe or not safe[0].isalnum():
        safe = "run" + safe
    stamp = (when or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{safe}-{stamp}-{secrets.token_hex(3)}"


def is_run_id(text: object) -> bool:
    """True when ``text`` is a whole run id."""
    return (
        isinstance(text, str)
        and len(text) <= MAX_ID_LENGTH
        and ".." not in text
        and RUN_ID.fullmatch(text) is not None
    )


def is_id_prefix(text: object) -> bool:
    """True when ``text`` may be the start of a run id (a whole id included)."""
    return (
        isinstance(text, str)
        and 0 < len(text) <= MAX_ID_LENGTH
        and ".." not in text
        and _PREFIX.fullmatch(text) is not None
    )


def shown(text: object, limit: int = 60) -> str:
    """``text`` shortened for an error message (a hostile id may be thousands of characters)."""
    value = text if isinstance(text, str) else repr(text)
    return value if len(value) <= limit else value[:limit] + f"... ({len(value)} characters)"


__all__ = ["MAX_ID_LENGTH", "RUN_ID", "is_id_prefix", "is_run_id", "new_run_id", "shown"]
