"""The run index: one SQLite table (stdlib ``sqlite3``, WAL) beside the run folders, for listing.

The folders stay the source of truth; the index is a cache that any process may rebuild:

- a writer updates a run's row whenever the run's status changes (under the run's lock), and when
  a run is created or deleted;
- a reader (`RunIndex.sync`, run before every listing) compares each row with its folder by the
  signature of ``state.json`` (inode, mtime, size) and re-reads only the runs that changed; when
  the runs folder itself changed (a folder added or removed by anyone), it rescans the names;
- a missing, corrupt or older-schema index is rebuilt from the folders; where it cannot be written
  (a read-only store), the same code runs on an in-memory copy.

Nothing in here ever stops a run: index errors are swallowed by writers and retried by readers.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from tunesdk.store.ids import is_run_id
from tunesdk.store.state import DAMAGED, RunSummary, file_signature, summarize_folder

T = TypeVar("T")
INDEX_NAME = ".index.sqlite"
SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    backend TEXT,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT,
    problem TEXT,
    state_sig TEXT NOT NULL,
    found_problem TEXT,
    found_file TEXT,
    found_sig TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS runs_by_created ON runs (created_at, run_id);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status, created_at);
CREATE INDEX IF NOT EXISTS runs_by_backend ON runs (backend, created_at);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# a damaged run lists as "damaged", whatever its state.json last said
_STATUS = (
    f"CASE WHEN problem IS NOT NULL OR found_problem IS NOT NULL THEN '{DAMAGED}' ELSE status END"
)
_COLUMNS = f"run_id, backend, {_STATUS}, created_at, updated_at, COALESCE(problem, found_problem)"


@dataclass(frozen=True)
class Page:
    """Runs matching a query (newest first unless asked otherwise) and how many matched in all."""

    runs: list[RunSummary]
    total: int


class RunIndex:
    """The index of the runs under ``runs_dir``."""

    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir = runs_dir
        self.path = runs_dir / INDEX_NAME

    # ---- connections ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _connect(self, *, memory: bool = False) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(
            ":memory:" if memory else str(self.path), timeout=10.0, isolation_level=None
        )
        try:
            if not memory:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                conn.execute("BEGIN IMMEDIATE")
                if version != 0:  # an older (or newer) layout: start again from the folders
                    conn.execute("DROP TABLE IF EXISTS runs")
                    conn.execute("DROP TABLE IF EXISTS meta")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute("COMMIT")
            yield conn
        finally:
            conn.close()

    def _read(self, action: Callable[[sqlite3.Connection], T]) -> T:
        """``action`` on a synced index: the file (rebuilt when corrupt), else an in-memory copy."""
        for attempt in range(2):
            try:
                with self._connect() as conn:
                    self.sync(conn)
                    return action(conn)
            except sqlite3.OperationalError:
                break  # locked for too long, or read-only: a private copy answers this once
            except sqlite3.DatabaseError:
                if attempt == 0:
                    self._discard()  # not a database, or a damaged one: rebuilt from the folders
                    continue
                break
        with self._connect(memory=True) as conn:
            self.sync(conn)
            return action(conn)

    def _discard(self) -> None:
        """Remove a corrupt index (it is rebuilt from the folders)."""
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.unlink(f"{self.path}{suffix}")

    # ---- writers ------------------------------------------------------------------------------

    def record(self, folder: Path) -> None:
        """Store the current summary of the run in ``folder`` (called on every status change)."""
        self._write(lambda conn: _upsert(conn, [(summarize_folder(folder), _sig(folder))]))

    def mark_damaged(self, folder: Path, name: str, problem: str) -> None:
        """Note damage a reader found in the run's file ``name`` (a garbage event line, a missing
        job.json), shown in the list until that file changes."""
        sig = file_signature(folder / name)
        self._write(
            lambda conn: conn.execute(
                "UPDATE runs SET found_problem = ?, found_file = ?, found_sig = ? WHERE run_id = ?",
                (problem, name, sig, folder.name),
            )
        )

    def remove(self, run_id: str) -> None:
        self._write(lambda conn: conn.execute("DELETE FROM runs WHERE run_id = ?", (run_id,)))

    def _write(self, action: Callable[[sqlite3.Connection], object]) -> None:
        if not self.runs_dir.is_dir():
            return
        try:
            with self._connect() as conn:
                conn.execute("BEGIN IMMEDIATE")
                action(conn)
                conn.execute("COMMIT")
        except (sqlite3.Error, OSError):
            pass  # a stale row is found and fixed by the next reader's sync

    # ---- readers ------------------------------------------------------------------------------

    def query(
        self,
        *,
        status: str | None = None,
        backend: str | None = None,
        limit: int | None = None,
        newest_first: bool = True,
    ) -> Page:
        """Runs filtered by status and backend; ``limit`` of them (``None``: all)."""
        where, params = [], []
        if status is not None:
            where.append(f"{_STATUS} = ?")
            params.append(status)
        if backend is not None:
            where.append("backend = ?")
            params.append(backend)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        order = "DESC" if newest_first else "ASC"
        sql = f"SELECT {_COLUMNS} FROM runs{clause} ORDER BY created_at {order}, run_id {order}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"

        def run(conn: sqlite3.Connection) -> Page:
            rows = conn.execute(sql, params).fetchall()
            total = len(rows)
            if limit is not None and total >= limit:
                total = conn.execute(f"SELECT COUNT(*) FROM runs{clause}", params).fetchone()[0]
            return Page([self._summary(row) for row in rows], total)

        return self._read(run)

    def with_prefix(self, prefix: str) -> list[str]:
        """Ids starting with ``prefix`` (compared literally: no pattern characters)."""
        rows = self._read(
            lambda conn: conn.execute(
                "SELECT run_id FROM runs WHERE substr(run_id, 1, ?) = ? ORDER BY run_id",
                (len(prefix), prefix),
            ).fetchall()
        )
        return [row[0] for row in rows]

    def _summary(self, row: tuple[str, ...]) -> RunSummary:
        run_id, backend, status, created, updated, problem = row
        return RunSummary(
            run_id, backend, status, created, updated, problem, self.runs_dir / run_id
        )

    # ---- keeping up with the folders ----------------------------------------------------------

    def sync(self, conn: sqlite3.Connection) -> None:
        """Bring the rows up to date with the folders, re-reading only what changed."""
        rows = {
            run_id: (state_sig, found_file, found_sig)
            for run_id, state_sig, found_file, found_sig in conn.execute(
                "SELECT run_id, state_sig, found_file, found_sig FROM runs"
            )
        }
        try:
            dir_mtime = str(os.stat(self.runs_dir).st_mtime_ns)
        except OSError:
            dir_mtime = "-"
        stored = conn.execute("SELECT value FROM meta WHERE key = 'dir_mtime'").fetchone()
        rescan = stored is None or stored[0] != dir_mtime
        names = _run_names(self.runs_dir) if rescan else set(rows)
        changed: list[tuple[RunSummary, str]] = []
        gone = set(rows) - names
        for name in names:
            folder = self.runs_dir / name
            sig = _sig(folder)
            if sig is None:
                gone.add(name)
                continue
            row = rows.get(name)
            if (
                row is not None
                and row[0] == sig
                and (row[1] is None or file_signature(folder / row[1]) == row[2])
            ):
                continue  # unchanged (and a damaged file, if one was noted, still the same)
            changed.append((summarize_folder(folder), sig))
        if not (changed or gone or rescan):
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            _upsert(conn, changed)
            conn.executemany("DELETE FROM runs WHERE run_id = ?", [(name,) for name in gone])
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('dir_mtime', ?)", (dir_mtime,)
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _upsert(conn: sqlite3.Connection, items: list[tuple[RunSummary, str | None]]) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO runs (run_id, backend, status, created_at, updated_at, problem,"
        " state_sig) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (s.run_id, s.backend, s.status, s.created_at, s.updated_at, s.problem, sig or "-")
            for s, sig in items
        ],
    )


def _sig(folder: Path) -> str | None:
    """``state.json``'s signature; ``None`` when the run folder itself is gone."""
    sig = file_signature(folder / "state.json")
    if sig == "-" and not folder.is_dir():
        return None
    return sig


def _run_names(runs_dir: Path) -> set[str]:
    """Names of the run folders (real folders whose names are run ids; no links, no dot files)."""
    try:
        with os.scandir(runs_dir) as entries:
            return {
                entry.name
                for entry in entries
                if is_run_id(entry.name) and entry.is_dir(follow_symlinks=False)
            }
    except OSError:
        return set()


__all__ = ["INDEX_NAME", "Page", "RunIndex"]
