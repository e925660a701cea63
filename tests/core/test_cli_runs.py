"""`tunesdk runs`, `rm` and `prune`: whole ids, JSON, limits, filters, and deletions that ask first."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk.store import RunRecord, RunStore

Invoke = Callable[..., tuple[int, str, str]]  # the `invoke` fixture (tests/conftest.py)

TUNESDK = Path(sys.executable).with_name("tunesdk")


@pytest.fixture
def new_run(make_job: Callable[..., ts.Job]) -> Callable[..., RunRecord]:
    job = make_job()
    plan = job.plan("simulated")

    def make(backend: str = "simulated", end: ts.Event | None = None) -> RunRecord:
        record = RunStore().create(job, plan, backend)
        if end is not None:
            record.emit(end)
        return record

    return make


def _failed() -> ts.Failed:
    return ts.Failed(error="boom")


def _backdate(record: RunRecord, when: str = "2020-01-01T00:00:00.000+00:00") -> None:
    state = json.loads((record.dir / "state.json").read_text())
    state["created_at"] = when
    (record.dir / "state.json").write_text(json.dumps(state))


def test_ids_are_whole_at_80_columns_and_when_piped(
    new_run: Callable[..., RunRecord], tunesdk_home: Path, invoke: Invoke
) -> None:
    records = [new_run("a-rather-long-backend-name-for-the-table", end=_failed()) for _ in range(2)]
    code, out, _ = invoke(["runs"], width=80)
    assert code == 0
    for record in records:
        assert record.run_id in out
    assert "…" not in out
    piped = subprocess.run(
        [str(TUNESDK), "runs"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"TUNESDK_HOME": str(tunesdk_home), "COLUMNS": "80", "PATH": "/usr/bin:/bin"},
    )
    assert piped.returncode == 0, piped.stderr
    for record in records:
        assert record.run_id in piped.stdout
    assert "…" not in piped.stdout


def test_json_lists_every_field(new_run: Callable[..., RunRecord], invoke: Invoke) -> None:
    record = new_run(end=_failed())
    code, out, _ = invoke(["runs", "--json"])
    assert code == 0
    [row] = json.loads(out)
    assert row["run_id"] == record.run_id and row["status"] == "failed"
    assert row["backend"] == "simulated" and row["problem"] is None
    assert Path(row["dir"]) == record.dir


def test_default_limit_is_the_newest_20_then_how_many_more(
    new_run: Callable[..., RunRecord], invoke: Invoke
) -> None:
    records = [new_run() for _ in range(23)]
    for i, record in enumerate(records):  # distinct, known creation times
        _backdate(record, f"2026-01-01T00:00:{i:02d}.000+00:00")
    code, out, _ = invoke(["runs"])
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["RUN", "ID"]
    assert [line.split()[0] for line in lines[1:21]] == [r.run_id for r in reversed(records[3:])]
    assert "3 more" in lines[21]
    code, out, _ = invoke(["runs", "--limit", "0"])
    assert all(r.run_id in out for r in records) and "more" not in out
    code, out, _ = invoke(["runs", "-n", "2", "--json"])
    assert [row["run_id"] for row in json.loads(out)] == [r.run_id for r in records[:-3:-1]]


def test_status_and_backend_filters(new_run: Callable[..., RunRecord], invoke: Invoke) -> None:
    failed = new_run(end=_failed())
    other = new_run("other")
    plain = new_run()
    code, out, _ = invoke(["runs", "--status", "failed"])
    assert failed.run_id in out and other.run_id not in out and plain.run_id not in out
    code, out, _ = invoke(["runs", "--backend", "other"])
    assert other.run_id in out and failed.run_id not in out
    code, out, err = invoke(["runs", "--status", "bogus"])
    assert code == 2 and "bogus" in err and "completed" in err
    code, out, _ = invoke(["runs", "--status", "cancelled"])
    assert code == 0 and "no runs matching status=cancelled in" in out


def test_an_empty_store_says_which_folder_it_read(tunesdk_home: Path, invoke: Invoke) -> None:
    code, out, _ = invoke(["runs"])
    assert code == 0
    assert f"no runs in {tunesdk_home / 'runs'}" in out
    code, out, _ = invoke(["runs", "--json"])
    assert json.loads(out) == []


def test_an_ambiguous_prefix_lists_the_matches_in_the_cli(
    new_run: Callable[..., RunRecord], invoke: Invoke
) -> None:
    records = [new_run() for _ in range(2)]
    code, _, err = invoke(["status", "simulated-"])
    assert code == 2
    assert "matches 2 runs" in err
    assert all(r.run_id in err for r in records)


def test_rm_asks_and_deletes(new_run: Callable[..., RunRecord], invoke: Invoke) -> None:
    record = new_run(end=_failed())
    code, _, err = invoke(["rm", record.run_id], stdin="n\n")
    assert code == 1 and "nothing deleted" in err and record.dir.exists()
    code, _, err = invoke(["rm", record.run_id], stdin="")
    assert code == 1 and "--yes" in err and record.dir.exists()
    code, out, _ = invoke(["rm", record.run_id[:-2]], stdin="y\n")
    assert code == 0 and f"deleted {record.run_id}" in out and not record.dir.exists()
    code, _, err = invoke(["rm", record.run_id, "--yes"])
    assert code == 2 and "no run" in err


def test_rm_keeps_a_running_run_unless_forced(
    new_run: Callable[..., RunRecord], invoke: Invoke
) -> None:
    record = new_run(end=ts.StatusChanged(status="running"))
    code, _, err = invoke(["rm", record.run_id, "--yes"])
    assert code == 1 and "still running" in err and record.dir.exists()
    code, out, _ = invoke(["rm", record.run_id, "--yes", "--force"])
    assert code == 0 and f"deleted {record.run_id}" in out and not record.dir.exists()


def test_prune_by_age_and_status(new_run: Callable[..., RunRecord], invoke: Invoke) -> None:
    old_failed = new_run(end=_failed())
    old_done = new_run(end=ts.Completed(model=ts.LocalModel(path="/m")))
    old_running = new_run(end=ts.StatusChanged(status="running"))
    fresh_failed = new_run(end=_failed())
    for record in (old_failed, old_done, old_running):
        _backdate(record)

    code, out, _ = invoke(["prune", "--older-than", "30d", "--dry-run"])
    assert code == 0 and "would delete" in out and old_failed.dir.exists()

    code, out, err = invoke(["prune", "--older-than", "30d", "--status", "failed"], stdin="y\n")
    assert code == 0, err
    assert not old_failed.dir.exists()
    assert old_done.dir.exists() and fresh_failed.dir.exists() and old_running.dir.exists()

    code, out, err = invoke(["prune", "--older-than", "30d", "--yes"])
    assert code == 0
    assert not old_done.dir.exists()
    assert old_running.dir.exists() and f"keeping {old_running.run_id}: still running" in err

    code, _, err = invoke(["prune", "--older-than", "a month"])
    assert code == 2 and "30d" in err


def test_status_rounds_the_last_loss(new_run: Callable[..., RunRecord], invoke: Invoke) -> None:
    record = new_run()
    record.emit(ts.Progress(step=16, total_steps=16, train_loss=5.111066818237305))
    code, out, _ = invoke(["status", record.run_id])
    assert code == 0
    assert "step 16/16 (100%) loss 5.1111" in out and "5.11106" not in out


def test_status_prints_a_long_model_uri_whole_at_80_columns(
    new_run: Callable[..., RunRecord], invoke: Invoke
) -> None:
    path = "/tmp/walk/a-rather-long-home/runs/trl-20261201-235209-142ff2/outputs/model"
    record = new_run(end=ts.Completed(model=ts.LocalModel(path=path)))
    code, out, _ = invoke(["status", record.run_id], width=80)
    assert code == 0
    assert f"model local:{path}\n" in out
