"""The run index: SQLite beside the run folders, kept in step with them, rebuilt when missing or stale."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk.store import RunRecord, RunStore
from tunesdk.store.index import INDEX_NAME


@pytest.fixture
def new_run(make_job: Callable[..., ts.Job]) -> Callable[..., RunRecord]:
    job = make_job()
    plan = job.plan("simulated")

    def make(backend: str = "simulated") -> RunRecord:
        return RunStore().create(job, plan, backend)

    return make


def _rows(store: RunStore) -> dict[str, tuple[str, str]]:
    """What the index file itself holds: run id -> (status, backend)."""
    with sqlite3.connect(store.index.path) as conn:
        return {
            r[0]: (r[1], r[2]) for r in conn.execute("SELECT run_id, status, backend FROM runs")
        }


def _listed(**filters: str) -> dict[str, str]:
    return {row.run_id: row.status for row in RunStore().query(**filters).runs}


def test_the_index_is_sqlite_in_wal_mode_beside_the_run_folders(
    new_run: Callable[..., RunRecord],
) -> None:
    record = new_run()
    store = RunStore()
    assert store.index.path == store.home / INDEX_NAME
    with sqlite3.connect(store.index.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert _rows(store) == {record.run_id: ("created", "simulated")}


def test_every_status_change_updates_the_index_without_a_reader(
    new_run: Callable[..., RunRecord],
) -> None:
    record = new_run()
    store = RunStore()
    record.emit(ts.StatusChanged(status="running"))
    assert _rows(store)[record.run_id][0] == "running"
    record.emit(ts.Failed(error="boom"))
    assert _rows(store)[record.run_id][0] == "failed"


def test_a_missing_index_is_rebuilt_from_the_folders(new_run: Callable[..., RunRecord]) -> None:
    runs = [new_run() for _ in range(3)]
    runs[0].emit(ts.Completed(model=ts.LocalModel(path="/tmp/m")))
    expected = _listed()
    store = RunStore()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store.index.path}{suffix}").unlink(missing_ok=True)
    assert _listed() == expected
    assert expected[runs[0].run_id] == "completed"
    assert store.index.path.exists()


def test_a_corrupt_index_is_rebuilt(new_run: Callable[..., RunRecord]) -> None:
    runs = [new_run() for _ in range(2)]
    store = RunStore()
    for suffix in ("-wal", "-shm"):
        Path(f"{store.index.path}{suffix}").unlink(missing_ok=True)
    store.index.path.write_bytes(b"this is not a database" * 100)
    assert set(_listed()) == {r.run_id for r in runs}
    assert set(_rows(store)) == {r.run_id for r in runs}


def test_an_index_from_an_older_layout_is_rebuilt(new_run: Callable[..., RunRecord]) -> None:
    record = new_run()
    store = RunStore()
    with sqlite3.connect(store.index.path) as conn:
        conn.execute("PRAGMA user_version = 1")
    assert set(_listed()) == {record.run_id}


def test_a_stale_index_catches_up_with_folders_changed_behind_its_back(
    new_run: Callable[..., RunRecord],
) -> None:
    first, second = new_run(), new_run()
    assert set(_listed()) == {first.run_id, second.run_id}
    # a folder copied in (e.g. restored from a backup), one removed by hand, one state edited
    copy = first.dir.parent / (first.run_id[:-6] + "ffffff")
    shutil.copytree(first.dir, copy)
    shutil.rmtree(second.dir)
    state = json.loads((first.dir / "state.json").read_text())
    state["status"] = "failed"
    (first.dir / "state.json").write_text(json.dumps(state))
    assert _listed() == {first.run_id: "failed", copy.name: "created"}
    assert set(_rows(RunStore())) == {first.run_id, copy.name}


def test_filters_limit_and_total(new_run: Callable[..., RunRecord]) -> None:
    made = [new_run("simulated") for _ in range(4)] + [new_run("other") for _ in range(2)]
    for record in made[:3]:
        record.emit(ts.Failed(error="x"))
    store = RunStore()
    assert set(_listed(status="failed")) == {r.run_id for r in made[:3]}
    assert set(_listed(backend="other")) == {r.run_id for r in made[4:]}
    assert _listed(status="failed", backend="other") == {}
    page = store.query(limit=2)
    assert len(page.runs) == 2 and page.total == 6
    newest = sorted(made, key=lambda r: (r.created_at, r.run_id))[-2:]
    assert [r.run_id for r in page.runs] == [r.run_id for r in reversed(newest)]
    assert [r.run_id for r in store.list()] == [
        r.run_id for r in sorted(made, key=lambda r: (r.created_at, r.run_id))
    ]


def test_a_read_only_index_still_lists(
    new_run: Callable[..., RunRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    record = new_run()
    store = RunStore()

    real_connect = sqlite3.connect

    def read_only(database: str, timeout: float, isolation_level: None) -> sqlite3.Connection:
        if database != ":memory:":
            database = f"file:{database}?mode=ro"
        return real_connect(database, timeout=timeout, isolation_level=isolation_level, uri=True)

    new_folder = record.dir.parent / (record.run_id[:-6] + "eeeeee")
    shutil.copytree(record.dir, new_folder)
    monkeypatch.setattr("tunesdk.store.index.sqlite3.connect", read_only)
    assert set(_listed()) == {record.run_id, new_folder.name}  # answered from an in-memory copy
    assert store.get(new_folder.name[:-1]).run_id == new_folder.name


WRITER = """
import sys
import tunesdk as ts
from tunesdk.store import RunStore
job = ts.Job(model="tiny/model", data=[{"text": "hello"}])
plan = job.plan("simulated")
store = RunStore()
for i in range(int(sys.argv[1])):
    record = store.create(job, plan, "simulated")
    record.emit(ts.StatusChanged(status="running"))
    record.emit(ts.Failed(error="x") if i % 2 else ts.Completed(model=ts.LocalModel(path="/m")))
    store.query(limit=5)
    if i % 5 == 4:
        store.delete(record.run_id)
"""


def test_concurrent_writers_and_readers_keep_the_index_whole(tunesdk_home: Path) -> None:
    per_process, writers = 15, 3
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(per_process)], stderr=subprocess.PIPE)
        for _ in range(writers)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    store = RunStore()
    rows = _rows(store)  # the file as the writers left it, before any reader repairs it
    folders = {p.name for p in store.runs_dir.iterdir() if not p.name.startswith(".")}
    assert set(rows) == folders and len(folders) == (per_process - per_process // 5) * writers
    for run_id, (status, _) in rows.items():
        assert status == RunRecord(store.runs_dir / run_id).status
    with sqlite3.connect(store.index.path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    kept = [i for i in range(per_process) if i % 5 != 4]
    statuses = sorted(_listed().values())
    assert statuses.count("completed") == writers * len([i for i in kept if i % 2 == 0])
    assert statuses.count("failed") == writers * len([i for i in kept if i % 2])


def test_get_by_exact_id_does_not_touch_the_index(
    new_run: Callable[..., RunRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    record = new_run()

    def no_index(*args: object, **kwargs: object) -> None:
        raise AssertionError("the index was read for an exact id")

    monkeypatch.setattr("tunesdk.store.index.RunIndex._read", no_index)
    assert RunStore().get(record.run_id).run_id == record.run_id
    assert ts.Run.attach(record.run_id).status == "created"


def test_delete_and_prune(new_run: Callable[..., RunRecord]) -> None:
    from datetime import timedelta

    from tunesdk.errors import RunNotFound, RunStillRunning

    old_failed, old_done, old_running, fresh_failed = (new_run() for _ in range(4))
    old_failed.emit(ts.Failed(error="x"))
    old_done.emit(ts.Completed(model=ts.LocalModel(path="/m")))
    old_running.emit(ts.StatusChanged(status="running"))
    fresh_failed.emit(ts.Failed(error="x"))
    for record in (old_failed, old_done, old_running):
        state = json.loads((record.dir / "state.json").read_text())
        state["created_at"] = "2020-01-01T00:00:00.000+00:00"
        (record.dir / "state.json").write_text(json.dumps(state))
    store = RunStore()

    with pytest.raises(RunStillRunning, match="still running"):
        store.delete(old_running.run_id)
    assert old_running.dir.exists()

    dry = store.prune(timedelta(days=30), dry_run=True)
    assert {s.run_id for s in dry.deleted} == {old_failed.run_id, old_done.run_id}
    assert {s.run_id for s in dry.kept_running} == {old_running.run_id}
    assert old_failed.dir.exists()

    done = store.prune(timedelta(days=30), status="failed")
    assert [s.run_id for s in done.deleted] == [old_failed.run_id]
    assert not old_failed.dir.exists() and fresh_failed.dir.exists() and old_done.dir.exists()
    assert old_failed.run_id not in _rows(store)

    store.delete(old_running.run_id, force=True)
    assert not old_running.dir.exists()
    with pytest.raises(RunNotFound):  # a follower of a deleted run learns it is gone
        _ = old_running.status
    assert set(_listed()) == {old_done.run_id, fresh_failed.run_id}
    assert not [p for p in store.runs_dir.iterdir() if p.name.startswith(".deleting")]


def test_a_shown_page_and_reindex_reread_finished_runs_edited_by_hand(
    new_run: Callable[..., RunRecord],
) -> None:
    record = new_run()
    record.emit(ts.Completed(model=ts.LocalModel(path="/m")))
    store = RunStore()
    state = json.loads((record.dir / "state.json").read_text())
    state["status"] = "failed"
    (record.dir / "state.json").write_text(json.dumps(state))
    assert _rows(store)[record.run_id][0] == "completed"  # the index has not looked yet
    assert _listed(status="completed") == {}  # a page to show is checked against its folder
    assert _listed(status="failed") == {record.run_id: "failed"}
    state["status"] = "cancelled"
    (record.dir / "state.json").write_text(json.dumps(state))
    store.reindex()
    assert _rows(store)[record.run_id][0] == "cancelled"
