"""The run index: one SQLite table (stdlib ``sqlite3``, WAL) beside the runs folder, for listing.

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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from tunesdk.errors import RunNotFound
from tunesdk.store.ids import is_run_id
from tunesdk.store.state import DAMAGED, RunSummary, file_signature, summarize_folder

T = TypeVar("T")
#: beside the ``runs`` folder, not in it: SQLite creates and removes its ``-wal``/``-shm`` files as
#: connections come and go, which would change the runs folder's mtime (our "folders changed" cue)
INDEX_NAME = "runs.sqlite"
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
_COLUMNS = (
    f"run_id, backend, {_STATUS}, created_at, updated_at, COALESCE(problem, found_problem),"
    " state_sig, found_file, found_sig"
)
#: how long a run's writer waits for the index before leaving the row to the next reader
WRITER_TIMEOUT_S = 2.0
#: a query result this small (a screenful) is checked against its folders before it is returned
VERIFIED_PAGE = 200


@dataclass(frozen=True)
class Page:
    """Runs matching a query (newest first unless asked otherwise) and how many matched in all."""

    runs: list[RunSummary]
    total: int


class RunIndex:
    """The index of the runs under ``runs_dir``."""

    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir = runs_dir
        self.path = runs_dir.parent / INDEX_NAME

    # ---- connections ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _connect(
        self, *, memory: bool = False, timeout: float = 10.0
    ) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(
            ":memory:" if memory else str(self.path), timeout=timeout, isolation_level=None
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
            # a writer may hold a run's lock: never stall it long (the next sync repairs the row)
            with self._connect(timeout=WRITER_TIMEOUT_S) as conn:
                conn.execute("BEGIN IMMEDIATE")
                action(conn)
                conn.execute("COMMIT")
        except (sqlite3.Error, OSError, RunNotFound):
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
            for attempt in range(2):
                rows = conn.execute(sql, params).fetchall()
                # a page small enough to show is checked against its folders, finished runs too
                if attempt or len(rows) > VERIFIED_PAGE or not self._verify(conn, rows):
                    break
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
        run_id, backend, status, created, updated, problem = row[:6]
        return RunSummary(run_id, backend, status, created, updated, problem, self.runs_dir)

    # ---- keeping up with the folders ----------------------------------------------------------

    def sync(self, conn: sqlite3.Connection) -> None:
        """Bring the index up to date with the folders, re-reading only what may have changed:
        runs that have not ended, damaged runs, and folders added or removed since the last sync
        (seen from the runs folder's mtime). A finished run's row is trusted; the page a query
        shows is checked again (`_verify`), and `rebuild` re-reads everything."""
        try:
            dir_mtime = str(os.stat(self.runs_dir).st_mtime_ns)
        except OSError:
            dir_mtime = "-"
        stored = conn.execute("SELECT value FROM meta WHERE key = 'dir_mtime'").fetchone()
        rescan = stored is None or stored[0] != dir_mtime
        watched: dict[str, tuple[str, str | None, str | None] | None] = {
            run_id: (state_sig, found_file, found_sig)
            for run_id, state_sig, found_file, found_sig in conn.execute(
                "SELECT run_id, state_sig, found_file, found_sig FROM runs WHERE status NOT IN"
                " ('completed', 'failed', 'cancelled') OR problem IS NOT NULL"
                " OR found_problem IS NOT NULL"
            )
        }
        gone: set[str] = set()
        if rescan:
            names = _run_names(self.runs_dir)
            known = {row[0] for row in conn.execute("SELECT run_id FROM runs")}
            gone = known - names
            watched.update(dict.fromkeys(names - known))
        changed, vanished = self._changed(watched)
        gone |= vanished
        if changed or gone or rescan:
            self._store(conn, changed, gone, dir_mtime if rescan else None)

    def _verify(self, conn: sqlite3.Connection, rows: list[tuple[str, ...]]) -> bool:
        """Re-read the runs of ``rows`` whose folders changed; True when any did."""
        changed, gone = self._changed({row[0]: (row[6], row[7], row[8]) for row in rows})
        if changed or gone:
            self._store(conn, changed, gone, None)
        return bool(changed or gone)

    def _changed(
        self, rows: dict[str, tuple[str, str | None, str | None] | None]
    ) -> tuple[list[tuple[RunSummary, str]], set[str]]:
        """Of ``rows`` (run id -> stored signatures, None for a new folder): fresh summaries of
        the runs whose files changed, and the ids whose folders are gone."""
        changed: list[tuple[RunSummary, str]] = []
        gone: set[str] = set()
        base = os.fspath(self.runs_dir)  # strings, not Paths: this loop may run once per run
        for name, row in rows.items():
            sig = _sig(f"{base}/{name}")
            if sig is None:
                gone.add(name)
                continue
            if (
                row is not None
                and row[0] == sig
                and (row[1] is None or file_signature(f"{base}/{name}/{row[1]}") == row[2])
            ):
                continue  # unchanged (and a damaged file, if one was noted, still the same)
            try:
                changed.append((summarize_folder(self.runs_dir / name), sig))
            except RunNotFound:  # deleted while we looked
                gone.add(name)
        return changed, gone

    def _store(
        self,
        conn: sqlite3.Connection,
        changed: list[tuple[RunSummary, str]],
        gone: set[str],
        dir_mtime: str | None,
    ) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            _upsert(conn, changed)
            conn.executemany("DELETE FROM runs WHERE run_id = ?", [(name,) for name in gone])
            if dir_mtime is not None:
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('dir_mtime', ?)", (dir_mtime,)
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def rebuild(self) -> None:
        """Re-read every run folder (after files were edited by hand, say)."""

        def forget(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM meta")
            conn.execute("DELETE FROM runs")

        self._write(forget)
        self._read(lambda conn: None)


def _upsert(conn: sqlite3.Connection, items: Sequence[tuple[RunSummary, str | None]]) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO runs (run_id, backend, status, created_at, updated_at, problem,"
        " state_sig) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (s.run_id, s.backend, s.status, s.created_at, s.updated_at, s.problem, sig or "-")
            for s, sig in items
        ],
    )


def _sig(folder: str | Path) -> str | None:
    """``state.json``'s signature; ``None`` when the run folder itself is gone."""
    sig = file_signature(f"{folder}/state.json")
    if sig == "-" and not os.path.isdir(folder):
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
