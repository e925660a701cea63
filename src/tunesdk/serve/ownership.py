"""Which owner created which file and run: one SQLite table under ``$TUNESDK_HOME/serve``.

Each key sees and controls only what it created; anything else is answered 404, exactly like an id
that does not exist. Rows hold owner ids (key hashes, `tunesdk.serve.auth.owner_id`), never keys.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS owned (
    kind TEXT NOT NULL,
    object_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (kind, object_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS owned_by_owner ON owned (owner, kind, created_at, object_id);
"""


@dataclass(frozen=True)
class Owned:
    kind: str
    object_id: str
    owner: str
    created_at: float


class Ownership:
    """The owner of every object the server created (kinds: ``"file"``, ``"upload"``, ``"run"``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._local = threading.local()
        with self._connect() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # one connection per thread, kept open: closing the last connection checkpoints the WAL
        # with an fsync, which made every claim cost ~40 ms when each call opened its own
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=10)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL: safe against crashes, not power loss
            self._local.db = db
        with db:
            yield db

    def claim(self, kind: str, object_id: str, owner: str, created_at: float) -> None:
        with self._lock, self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO owned VALUES (?, ?, ?, ?)",
                (kind, object_id, owner, created_at),
            )

    def owner_of(self, kind: str, object_id: str) -> str | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT owner FROM owned WHERE kind = ? AND object_id = ?", (kind, object_id)
            ).fetchone()
        return row[0] if row else None

    def owned_among(self, kind: str, owner: str, object_ids: list[str]) -> set[str]:
        """Which of ``object_ids`` ``owner`` created (one query, for filtering a page)."""
        found: set[str] = set()
        with self._connect() as db:
            for start in range(0, len(object_ids), 500):  # SQLite's variable limit
                chunk = object_ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                found.update(
                    row[0]
                    for row in db.execute(
                        "SELECT object_id FROM owned WHERE kind = ? AND owner = ?"
                        f" AND object_id IN ({marks})",
                        [kind, owner, *chunk],
                    )
                )
        return found

    def release(self, kind: str, object_id: str) -> None:
        with self._lock, self._connect() as db:
            db.execute("DELETE FROM owned WHERE kind = ? AND object_id = ?", (kind, object_id))

    def list(
        self, kind: str, owner: str, *, limit: int | None = None, after: str | None = None
    ) -> list[Owned]:
        """``owner``'s objects of ``kind``, newest first; ``after`` an id: those older than it
        (OpenAI's cursor pagination)."""
        query = "SELECT kind, object_id, owner, created_at FROM owned WHERE kind = ? AND owner = ?"
        args: list[object] = [kind, owner]
        if after is not None:
            query += (
                " AND (created_at, object_id) <"
                " (SELECT created_at, object_id FROM owned WHERE kind = ? AND object_id = ?)"
            )
            args += [kind, after]
        query += " ORDER BY created_at DESC, object_id DESC"
        if limit is not None:
            query += " LIMIT ?"
            args.append(limit)
        with self._connect() as db:
            return [Owned(*row) for row in db.execute(query, args)]


__all__ = ["Owned", "Ownership"]
