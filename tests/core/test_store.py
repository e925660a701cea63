"""The run store: seq numbering, de-duplication, cross-process appends, no secrets on disk."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk.errors import RunNotFound
from tunesdk.store import RunRecord, RunStore


@pytest.fixture
def record(make_job: Callable[..., ts.Job]) -> RunRecord:
    job = make_job()
    return RunStore().create(job, job.plan("simulated"), "simulated")


def test_emit_stamps_consecutive_seqs(record: RunRecord) -> None:
    stamped = [record.emit(ts.Log(message=f"m{i}")) for i in range(3)]
    assert [e.seq for e in stamped if e is not None] == [1, 2, 3]
    assert all(e is not None and e.run_id == record.run_id for e in stamped)
    assert [e.seq for e in record.events(after=1)] == [2, 3]


def test_emit_drops_an_event_whose_source_id_was_seen(record: RunRecord) -> None:
    first = record.emit(ts.Checkpoint(step=1, provider_id="ckpt-1", source_id="ckpt-1"))
    again = record.emit(ts.Checkpoint(step=1, provider_id="ckpt-1", source_id="ckpt-1"))
    other = record.emit(ts.Checkpoint(step=2, provider_id="ckpt-2", source_id="ckpt-2"))
    assert first is not None and first.seq == 1
    assert again is None
    assert other is not None and other.seq == 2
    assert len(record.events()) == 2


def test_nothing_is_appended_after_a_terminal_event(record: RunRecord) -> None:
    record.emit(ts.Failed(error="boom"))
    assert record.status == "failed"
    assert record.emit(ts.Log(message="late")) is None
    assert len(record.events()) == 1


EMITTER = """
import sys
from tunesdk.events import Log
from tunesdk.store import RunRecord
record = RunRecord(sys.argv[1])
for i in range(int(sys.argv[3])):
    record.emit(Log(message=f"{sys.argv[2]}-{i}"))
"""


def test_two_processes_emitting_at_once_get_unique_contiguous_seqs(record: RunRecord) -> None:
    per_process = 60
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", EMITTER, str(record.dir), name, str(per_process)],
            stderr=subprocess.PIPE,
        )
        for name in ("a", "b")
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    events = record.events()
    assert [e.seq for e in events] == list(range(1, 2 * per_process + 1))
    messages = [e.message for e in events if isinstance(e, ts.Log)]
    assert sorted(messages) == sorted(f"{n}-{i}" for n in "ab" for i in range(per_process))
    # each process's own events stay in the order it wrote them
    assert [m for m in messages if m.startswith("a-")] == [f"a-{i}" for i in range(per_process)]


def test_get_by_prefix_and_unknown_run(record: RunRecord) -> None:
    assert RunStore().get(record.run_id[:-3]).run_id == record.run_id
    with pytest.raises(RunNotFound) as info:
        RunStore().get("nope")
    assert "tunesdk runs" in (info.value.fix or "")


def test_secret_backend_option_never_reaches_the_run_folder(
    make_job: Callable[..., ts.Job],
) -> None:
    job = make_job(backend_options={"simulated": {"api_key": "sk-secret", "step_seconds": 0.001}})
    result = job.run("simulated", progress=False)
    files = [p for p in result.run_dir.rglob("*") if p.is_file()]
    assert any(p.name == "job.json" for p in files)
    for path in files:
        assert b"sk-secret" not in path.read_bytes(), path
    assert "sk-secret" not in repr(result)


def test_in_memory_data_is_materialized_for_the_worker(make_job: Callable[..., ts.Job]) -> None:
    rows = [
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
    ] * 4
    data = ts.Dataset.load(rows)
    result = make_job(data=data).run("simulated", progress=False)
    stored = ts.Run.attach(result.run_id).record.job
    assert Path(stored.data) == result.run_dir / "inputs" / "data.jsonl"
    assert Path(stored.data).read_text().count("\n") == 4


def test_a_writer_that_died_between_append_and_state_save_is_recovered(record: RunRecord) -> None:
    from tunesdk.events import Log

    record.emit(Log(message="one", source_id="a"))
    # a writer appends event 2 and dies before saving state.json, then leaves half a line
    with open(record.events_path, "ab") as handle:
        handle.write(
            (
                Log(message="two", source_id="b").model_copy(update={"seq": 2}).to_json() + "\n"
            ).encode()
        )
        handle.write(b'{"type": "log", "mess')
    assert record.emit(Log(message="again", source_id="b")) is None  # its source id is known
    third = record.emit(Log(message="three"))
    assert third is not None and third.seq == 3
    assert [e.seq for e in record.events()] == [1, 2, 3]
