"""A store that survives damage: each kind of damaged run file is reported for that run only."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk.errors import RunDamaged
from tunesdk.store import RunRecord, RunStore
from tunesdk.worker import run_worker

Invoke = Callable[..., tuple[int, str, str]]  # the `invoke` fixture (tests/conftest.py)


@pytest.fixture
def make_run(make_job: Callable[..., ts.Job]) -> Callable[[], RunRecord]:
    """A finished simulated run with a few events (made through the store, no worker)."""

    def make() -> RunRecord:
        job = make_job(backend_options={"simulated": {"step_seconds": 0.001}})
        record = RunStore().create(job, job.plan("simulated"), "simulated")
        record.emit(ts.StatusChanged(status="running"))
        for step in (1, 2):
            record.emit(ts.Progress(step=step, total_steps=2, train_loss=1.0 / step))
        record.emit(ts.Completed(model=ts.LocalModel(path="/tmp/m", base_model="tiny/model")))
        return record

    return make


@pytest.fixture
def three(make_run: Callable[[], RunRecord]) -> list[RunRecord]:
    return [make_run() for _ in range(3)]


def _no_traceback(*texts: str) -> None:
    for text in texts:
        assert "Traceback" not in text and "JSONDecodeError" not in text, text


# ---- a garbage state.json -------------------------------------------------------------------


def test_garbage_state_json_is_listed_as_damaged_and_others_still_list(
    three: list[RunRecord], invoke: Invoke
) -> None:
    good, bad, other = three
    RunStore().query()  # the index exists before the damage, as it would in real use
    (bad.dir / "state.json").write_text("{not json", encoding="utf-8")

    rows = {row.run_id: row for row in RunStore().query().runs}
    assert set(rows) == {r.run_id for r in three}
    assert rows[bad.run_id].status == "damaged"
    assert "state.json is not valid JSON" in (rows[bad.run_id].problem or "")
    assert rows[good.run_id].status == rows[other.run_id].status == "completed"

    code, out, err = invoke(["runs"])
    assert code == 0, err
    assert all(r.run_id in out for r in three)
    assert "damaged" in out and "state.json is not valid JSON" in out
    _no_traceback(out, err)

    for command in (["status"], ["logs"], ["cancel"], ["resume"]):
        code, out, err = invoke([*command, bad.run_id])
        assert code == 2, (command, out, err)
        assert f"run {bad.run_id} is damaged: state.json is not valid JSON" in err
        assert str(bad.dir / "state.json") in err
        _no_traceback(out, err)
    with pytest.raises(RunDamaged, match=r"state\.json"):
        ts.Run.attach(bad.run_id)

    code, out, _ = invoke(["status", good.run_id])
    assert code == 0 and "completed" in out


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("[1, 2]", "does not hold an object"),
        ('{"status": "running"}', "lacks 'backend'"),
        (b"\xff\xfe\x00garbage", "cannot be read"),
    ],
)
def test_other_unusable_state_files_are_damage_too(
    make_run: Callable[[], RunRecord], content: str | bytes, problem: str
) -> None:
    record = make_run()
    path = record.dir / "state.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(RunDamaged, match=problem):
        _ = record.status
    [row] = RunStore().query().runs
    assert row.status == "damaged" and problem in (row.problem or "")


def test_missing_state_json_is_damage_not_an_unknown_run(make_run: Callable[[], RunRecord]) -> None:
    record = make_run()
    (record.dir / "state.json").unlink()
    with pytest.raises(RunDamaged, match=r"state\.json is missing"):
        ts.Run.attach(record.run_id)
    [row] = RunStore().query().runs
    assert row.status == "damaged" and row.problem == "state.json is missing"


# ---- a garbage line in events.jsonl ---------------------------------------------------------


def _garble_line(record: RunRecord, number: int) -> None:
    lines = record.events_path.read_bytes().splitlines(keepends=True)
    lines[number - 1] = b'{"type": "progress", "step": "many"\n'
    record.events_path.write_bytes(b"".join(lines))


def test_garbage_event_line_names_the_line_for_status_logs_and_attach(
    three: list[RunRecord], invoke: Invoke
) -> None:
    good, bad, _ = three
    _garble_line(bad, 2)
    for command in (["status"], ["logs"], ["logs", "-f"]):
        code, out, err = invoke([*command, bad.run_id])
        assert code == 2, (command, out, err)
        assert f"run {bad.run_id} is damaged: events.jsonl line 2 is not an event" in err
        assert f"{bad.events_path}:2" in err
        _no_traceback(out, err)
    with pytest.raises(RunDamaged, match="line 2"):
        list(ts.Run.attach(bad.run_id).events(follow=False))
    # the reader's finding shows in the run list; the other runs are untouched
    rows = {row.run_id: row for row in RunStore().query().runs}
    assert rows[bad.run_id].status == "damaged"
    assert "events.jsonl line 2" in (rows[bad.run_id].problem or "")
    assert rows[good.run_id].status == "completed"
    assert [e.seq for e in ts.Run.attach(good.run_id).events()] == [1, 2, 3, 4]
    # the run list forgets the finding once the log is repaired
    bad.events_path.write_bytes(b"")
    assert {row.run_id: row for row in RunStore().query().runs}[bad.run_id].problem is None


def test_a_lenient_reader_skips_the_damaged_line(make_run: Callable[[], RunRecord]) -> None:
    record = make_run()
    _garble_line(record, 2)
    assert [e.seq for e in record.events(strict=False)] == [1, 3, 4]


# ---- a missing job.json ---------------------------------------------------------------------


def test_missing_job_json_makes_resume_say_so(
    make_job: Callable[..., ts.Job], invoke: Invoke
) -> None:
    job = make_job()
    record = RunStore().create(job, job.plan("simulated"), "simulated")
    record.emit(ts.Cancelled())
    (record.dir / "job.json").unlink()
    code, out, err = invoke(["resume", record.run_id])
    assert code == 2, (out, err)
    assert f"run {record.run_id} is damaged: job.json is missing" in err
    _no_traceback(out, err)
    [row] = RunStore().query().runs
    assert row.status == "damaged" and row.problem == "job.json is missing"
    code, out, _ = invoke(["runs", "--status", "damaged"])
    assert code == 0 and record.run_id in out and "job.json is missing" in out


def test_garbage_job_json_is_damage(make_run: Callable[[], RunRecord]) -> None:
    record = make_run()
    (record.dir / "job.json").write_text('{"model": 7}')
    with pytest.raises(RunDamaged, match=r"job\.json is not a valid job"):
        _ = RunRecord(record.dir).job


# ---- a torn or short event log --------------------------------------------------------------


def test_log_shorter_than_recorded_is_cut_back_to_its_last_whole_line(
    make_run: Callable[[], RunRecord],
) -> None:
    job = ts.Job(model="tiny/model", data=[{"text": "hi"}])
    record = RunStore().create(job, job.plan("simulated"), "simulated")
    for i in range(3):
        record.emit(ts.Log(message=f"m{i}", source_id=f"s{i}"))
    size = record.events_path.stat().st_size
    with open(record.events_path, "rb+") as handle:  # the disk filled: line 3 is half there
        handle.truncate(size - 20)
    fresh = record.emit(ts.Log(message="next"))
    assert fresh is not None and fresh.seq == 3  # seq 3 never reached the log whole
    raw = record.events_path.read_bytes()
    assert raw.endswith(b"\n")
    events = [ts.parse_event(line) for line in raw.splitlines()]  # no line merged onto the torn one
    assert [e.seq for e in events] == [1, 2, 3]
    assert [getattr(e, "message", None) for e in events] == ["m0", "m1", "next"]
    # the lost event's source id is forgotten, so a provider poll delivers it again
    again = record.emit(ts.Log(message="m2", source_id="s2"))
    assert again is not None and again.seq == 4


def test_a_torn_line_the_state_already_counted_is_cut_too(
    make_run: Callable[[], RunRecord],
) -> None:
    record = make_run()
    with open(record.events_path, "ab") as handle:  # a torn line, and state.json records it
        handle.write(b'{"type": "log", "mess')
    state = json.loads((record.dir / "state.json").read_text())
    state["events_size"] = record.events_path.stat().st_size
    state["status"] = "running"
    (record.dir / "state.json").write_text(json.dumps(state))
    record.emit(ts.Log(message="after"))
    assert [ts.parse_event(line).seq for line in record.events_path.read_bytes().splitlines()]


def test_a_short_write_leaves_no_half_line(
    make_run: Callable[[], RunRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    job = ts.Job(model="tiny/model", data=[{"text": "hi"}])
    record = RunStore().create(job, job.plan("simulated"), "simulated")
    record.emit(ts.Log(message="one"))
    import tunesdk.store.records as records

    real_write = records.os.write
    monkeypatch.setattr(records.os, "write", lambda fd, data: real_write(fd, data[:10]))
    with pytest.raises(OSError):
        record.emit(ts.Log(message="two"))
    monkeypatch.setattr(records.os, "write", real_write)
    assert record.events_path.read_bytes().endswith(b"\n")
    third = record.emit(ts.Log(message="three"))
    assert third is not None and third.seq == 2
    assert [e.seq for e in record.events()] == [1, 2]


@pytest.fixture
def sigterm_restored() -> Iterator[None]:
    previous = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize("damage", ["torn_short_log", "garbage_line"])
@pytest.mark.usefixtures("sigterm_restored")
def test_a_completed_training_is_never_recorded_failed_for_event_bookkeeping(
    make_job: Callable[..., ts.Job], damage: str
) -> None:
    job = make_job(max_steps=3, backend_options={"simulated": {"step_seconds": 0.001}})
    record = RunStore().create(job, job.plan("simulated"), "simulated")
    record.emit(ts.Log(message="resuming from somewhere"))
    record.emit(ts.Log(message="x" * 200))
    if damage == "torn_short_log":
        with open(record.events_path, "rb+") as handle:
            handle.truncate(record.events_path.stat().st_size - 50)
    else:
        _garble_line(record, 1)
    assert run_worker(record.dir) == 0  # the worker, in this process
    assert record.status == "completed"
    final = record.events(strict=False)[-1]
    assert isinstance(final, ts.Completed)
    assert final.metrics.get("train_loss") is not None


# ---- a reader who saw the terminal event sees a terminal status -----------------------------


def test_status_includes_events_appended_before_state_was_saved(
    make_job: Callable[..., ts.Job],
) -> None:
    job = make_job()
    record = RunStore().create(job, job.plan("simulated"), "simulated")
    record.emit(ts.StatusChanged(status="running"))
    # the writer appended Completed and has not replaced state.json yet
    done = ts.Completed(model=ts.LocalModel(path="/tmp/m")).model_copy(
        update={"seq": 2, "run_id": record.run_id}
    )
    with open(record.events_path, "ab") as handle:
        handle.write((done.to_json() + "\n").encode())
    assert json.loads((record.dir / "state.json").read_text())["status"] == "running"
    run = ts.Run.attach(record.run_id)
    assert run.status == "completed" and run.done
    assert isinstance(run.result().model, ts.LocalModel)


def test_status_after_wait_is_terminal(make_job: Callable[..., ts.Job]) -> None:
    run = make_job(backend_options={"simulated": {"step_seconds": 0.001}}).submit("simulated")
    result = run.wait(timeout=60)
    assert result.status == "completed"
    assert run.status == "completed"
    assert ts.Run.attach(run.run_id).status == "completed"


def test_damage_in_one_run_does_not_stop_following_another(
    make_job: Callable[..., ts.Job], make_run: Callable[[], RunRecord]
) -> None:
    broken = make_run()
    (broken.dir / "state.json").write_text("garbage")
    _garble_line(make_run(), 1)
    result = make_job(backend_options={"simulated": {"step_seconds": 0.001}}).run(
        "simulated", progress=False
    )
    assert result.status == "completed"
    statuses = {row.run_id: row.status for row in RunStore().query().runs}
    assert statuses[result.run_id] == "completed"
    assert statuses[broken.run_id] == "damaged"


def test_a_damaged_run_can_be_deleted(make_run: Callable[[], RunRecord]) -> None:
    record = make_run()
    (record.dir / "state.json").write_text("garbage")
    RunStore().delete(record.run_id)
    assert not record.dir.exists()
    assert RunStore().query().runs == []


def test_damaged_file_paths_are_named(make_run: Callable[[], RunRecord]) -> None:
    record = make_run()
    (record.dir / "plan.json").unlink()
    with pytest.raises(RunDamaged) as info:
        _ = record.plan
    assert info.value.path == str(Path(record.dir) / "plan.json")
    assert "tunesdk rm" in (info.value.fix or "")
