"""Faults on the wire: retries, reconciled creates, recovered uploads — nothing lost, nothing twice.

These drive the backend's launch/poll directly on a run record, so each test can aim a fault at one
call; test_runs.py covers the same flow through ``Job.run``.
"""

from __future__ import annotations

import pytest

from tunesdk.events import Checkpoint, Completed, Failed, Progress
from tunesdk.job import Job
from tunesdk.testing import launch_run, poll_until_done
from tunesdk_openai.backend import OpenAIBackend

MODEL = "gpt-4o-mini-2024-07-18"


@pytest.fixture
def backend(openai_env):
    return OpenAIBackend()


def _drive(backend, job, timeout=15.0):
    return poll_until_done(backend, launch_run(backend, job), timeout=timeout, interval=0.03)


def _job(samples, **fields):
    base = {"model": MODEL, "data": samples.chat(12), "epochs": 2, "batch_size": 4}
    return Job(**(base | fields))


def _assert_whole_history(run, total_steps):
    events = run.events()
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    source_ids = [e.source_id for e in events if e.source_id]
    assert len(source_ids) == len(set(source_ids))
    assert [e.step for e in events if isinstance(e, Progress)] == list(range(1, total_steps + 1))
    assert isinstance(events[-1], Completed)
    return events


def test_create_whose_response_is_lost_makes_exactly_one_job(emulator, backend, samples):
    emulator.fault(kind="commit_then_drop", method="POST", path="/v1/fine_tuning/jobs")
    run = _drive(backend, _job(samples))
    assert len(emulator.world.jobs) == 1
    assert emulator.faults.count("POST", "/v1/fine_tuning/jobs") == 1  # adopted, not re-sent
    assert run.state["remote_job_id"] == next(iter(emulator.world.jobs))
    _assert_whole_history(run, 6)


def test_create_that_times_out_makes_exactly_one_job(emulator, backend, samples):
    # the first create hangs past the client's timeout; the retry asks for the run's job first
    emulator.fault(kind="delay", delay_s=0.6, method="POST", path="/v1/fine_tuning/jobs")
    run = _drive(backend, _job(samples, backend_options={"openai": {"timeout_s": 0.3}}))
    assert len(emulator.world.jobs) == 1
    assert emulator.faults.count("POST", "/v1/fine_tuning/jobs") == 2
    lookups = [
        r
        for r in emulator.faults.requests
        if r.method == "GET" and r.path == "/v1/fine_tuning/jobs"
    ]
    assert len(lookups) == 1  # reconciled before the second create
    _assert_whole_history(run, 6)


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 429, "times": 4, "retry_after": 0.01},
        {"status": 500, "times": 3},
        {"status": 503, "times": 2, "path": "/v1/fine_tuning/jobs"},
        {"kind": "drop", "times": 3, "method": "GET"},
        {"kind": "delay", "delay_s": 0.2, "times": 5},
    ],
    ids=["429-burst", "500s", "503-on-jobs", "dropped-polls", "slow"],
)
def test_faults_are_survived_with_every_event_once(emulator, backend, samples, fault):
    eval_rows = samples.chat(10)
    emulator.fault(**fault)
    run = _drive(backend, _job(samples, eval_data=eval_rows))
    events = _assert_whole_history(run, 6)
    assert len(emulator.world.jobs) == 1
    assert len([e for e in events if isinstance(e, Checkpoint)]) == 2
    assert any(r.fault for r in emulator.faults.requests)  # the fault did happen


def test_upload_whose_response_is_lost_is_not_uploaded_twice(emulator, backend, samples):
    emulator.fault(kind="commit_then_drop", method="POST", path="/v1/files")
    run = _drive(backend, _job(samples))
    train_files = [f for f in emulator.world.files.values() if f.filename.endswith(".train.jsonl")]
    assert len(train_files) == 1
    assert train_files[0].filename == f"{run.run_id}.train.jsonl"
    assert run.state["file_ids"]["train"] == train_files[0].id


def test_large_files_go_through_the_uploads_api_in_streamed_parts(emulator, backend, samples):
    emulator.settings.max_file_bytes = 600  # the single-file API would refuse the train file
    emulator.fault(status=500, method="POST", path="/v1/uploads/")  # one part fails once
    emulator.fault(kind="commit_then_drop", path="/v1/uploads/", method="POST", times=1)
    options = {"openai": {"upload_threshold_bytes": 600, "upload_part_bytes": 256}}
    run = _drive(backend, _job(samples, backend_options=options))
    stored = emulator.world.files[run.state["file_ids"]["train"]]
    assert stored.content == (run.inputs_dir / "train.jsonl").read_bytes()
    assert emulator.faults.count("POST", "/v1/files") == 0
    assert emulator.faults.count("POST", "/v1/uploads") >= 1
    _assert_whole_history(run, 6)


def test_job_failing_mid_training_ends_the_run_failed(emulator, backend, samples):
    emulator.settings.fail_at_step = 3
    run = _drive(backend, _job(samples))
    last = run.events()[-1]
    assert isinstance(last, Failed)
    assert "step 3" in last.error and "internal_error" in last.error
    assert [e.step for e in run.events() if isinstance(e, Progress)] == [1, 2, 3]


def test_upload_completion_whose_response_is_lost_is_found_again(emulator, backend, samples):
    emulator.settings.max_file_bytes = 600
    # the single part passes (a zero delay), then the completion commits but its answer is lost
    emulator.fault(kind="delay", delay_s=0, method="POST", path="/v1/uploads/")
    emulator.fault(kind="commit_then_drop", method="POST", path="/v1/uploads/")
    options = {"openai": {"upload_threshold_bytes": 600, "upload_part_bytes": 1 << 20}}
    run = _drive(backend, _job(samples, backend_options=options))
    completes = [r for r in emulator.faults.requests if r.path.endswith("/complete")]
    assert len(completes) == 1 and completes[0].fault == "commit_then_drop"
    assert len([f for f in emulator.world.files.values() if f.purpose == "fine-tune"]) == 1
    _assert_whole_history(run, 6)
