"""Runs that end badly: worker killed, worker crash, exception in training."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

import pytest

import tunesdk as ts
from tunesdk import local
from tunesdk.errors import RunFailed


def slow_job(make_job: Callable[..., ts.Job], **options: object) -> ts.Job:
    return make_job(max_steps=40, backend_options={"simulated": {"step_seconds": 0.05, **options}})


def test_sigkilled_worker_ends_failed_naming_the_signal(
    make_job: Callable[..., ts.Job],
) -> None:
    run = slow_job(make_job).submit("simulated")
    for event in run.events():
        if isinstance(event, ts.Progress):
            break
    os.killpg(int(run.record.state["worker_pid"]), signal.SIGKILL)
    events = list(run.events())
    final = events[-1]
    assert isinstance(final, ts.Failed)
    assert "SIGKILL" in final.error
    assert final.error_type == "WorkerDied"
    assert run.status == "failed"
    with pytest.raises(RunFailed, match="SIGKILL"):
        run.result()


def test_worker_hard_exit_ends_failed_with_its_exit_code(
    make_job: Callable[..., ts.Job],
) -> None:
    job = make_job(max_steps=10, backend_options={"simulated": {"crash_at_step": 3}})
    with pytest.raises(RunFailed) as info:
        job.run("simulated", progress=False)
    assert "exited with code 137" in info.value.error
    steps = [
        e.step
        for e in ts.Run.attach(info.value.run_id).record.events()
        if isinstance(e, ts.Progress)
    ]
    assert steps == [1, 2]


def test_exception_in_training_ends_failed_with_traceback(
    make_job: Callable[..., ts.Job],
) -> None:
    job = make_job(max_steps=10, backend_options={"simulated": {"fail_at_step": 4}})
    run = job.submit("simulated")
    with pytest.raises(RunFailed) as info:
        run.wait(timeout=30)
    assert info.value.error == "RuntimeError: simulated failure at step 4"
    assert info.value.run_id == run.run_id
    final = run.record.events()[-1]
    assert isinstance(final, ts.Failed) and final.error_type == "RuntimeError"
    log = run.record.error_log.read_text()
    assert log.startswith("Traceback (most recent call last)")
    assert "simulated failure at step 4" in log
    assert final.details_path == str(run.record.error_log)
    assert str(run.record.error_log) in (info.value.fix or "")


def test_dead_worker_noticed_by_a_process_that_did_not_start_it(
    make_job: Callable[..., ts.Job],
) -> None:
    run = slow_job(make_job).submit("simulated")
    child = local._children.pop(run.run_id)  # as if this process were not the worker's parent
    os.killpg(child.pid, signal.SIGKILL)
    try:
        with pytest.raises(RunFailed, match="disappeared without reporting"):
            ts.Run.attach(run.run_id).wait(timeout=30)
    finally:
        child.wait(timeout=10)
