"""Whole runs through the public API (``Job.run`` / ``submit`` / ``Run.attach``) on the emulator.

The official ``together`` SDK talks to the emulator over real HTTP; only the environment points it
there (``TOGETHER_BASE_URL``, a dummy ``TOGETHER_API_KEY``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import tunesdk as ts
from tunesdk.errors import DataError, JobError, RunFailed
from tunesdk.events import (
    Cancelled,
    Checkpoint,
    Completed,
    Evaluation,
    Event,
    Failed,
    Log,
    Progress,
    StatusChanged,
)
from tunesdk_together.emulator import TogetherEmulator

pytest.importorskip("tunesdk.run", reason="the core's run layer (tunesdk.run) is not installed")
pytestmark = pytest.mark.usefixtures("together_env", "fast_retries")

MODEL = "meta-llama/Llama-3.1-8B-Instruct"


def job(train: Path | list[dict[str, Any]], **fields: Any) -> Any:
    data = str(train) if isinstance(train, Path) else train
    return ts.Job(**({"model": MODEL, "data": data, "epochs": 2} | fields))


def run(job_: Any) -> list[Event]:
    events: list[Event] = []
    job_.run(backend="together", on_event=events.append, progress=False)
    return events


def test_sft_run_completes_with_events_in_order(
    together_env: TogetherEmulator, data, sft_file: Path
) -> None:
    evals = data.write("eval.jsonl", data.chat(8))
    events = run(job(sft_file, eval_data=str(evals), n_checkpoints=2, suffix="support"))

    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    statuses = [(e.status, e.provider_status) for e in events if isinstance(e, StatusChanged)]
    assert statuses[:2] == [("validating", None), ("uploading", None)]
    provider = [p for _, p in statuses if p]
    assert provider[0] == "pending" and provider[-2:] == ["compressing", "uploading"]
    assert [e.step for e in events if isinstance(e, Progress)] == [1, 2, 3, 4]
    assert [e.step for e in events if isinstance(e, Evaluation)] == [2, 4]  # one per epoch
    assert [e.step for e in events if isinstance(e, Checkpoint)] == [2]
    first_progress = next(i for i, e in enumerate(events) if isinstance(e, Progress))
    running = next(
        i for i, e in enumerate(events) if isinstance(e, StatusChanged) and e.status == "running"
    )
    assert running < first_progress

    done = events[-1]
    assert isinstance(done, Completed)
    [remote] = together_env.state.list_jobs()
    assert done.model == ts.ProviderModel(
        provider="together", model_id=remote.output_name, base_model=MODEL, job_id=remote.id
    )
    assert remote.request["suffix"] == f"support-{events[0].run_id.removeprefix('together-')}"
    assert done.metrics["train_loss"] < 2.4 and "eval_loss" in done.metrics


def test_the_plan_is_exactly_what_together_received(
    together_env: TogetherEmulator, sft_file: Path
) -> None:
    the_job = job(sft_file, method=ts.LoRA(r=8, alpha=16), learning_rate=1e-4, seed=3)
    plan = the_job.plan("together")

    events = run(the_job)

    [remote] = together_env.state.list_jobs()
    tag = events[0].run_id.removeprefix("together-")
    expected = json.loads(
        json.dumps(plan.native["request_body"])
        .replace("<file id of train.jsonl>", remote.request["training_file"])
        .replace("-<run id>", f"-{tag}")
        .replace("<run id>", tag)
    )
    assert remote.request == expected


def test_dpo_run_completes(together_env: TogetherEmulator, dpo_file: Path) -> None:
    events = run(job(dpo_file, beta=0.25))

    assert isinstance(events[-1], Completed)
    [remote] = together_env.state.list_jobs()
    assert remote.request["training_method"]["method"] == "dpo"
    assert remote.request["training_method"]["dpo_beta"] == 0.25
    assert [e.step for e in events if isinstance(e, Progress)] == [1, 2, 3, 4]


def test_a_job_failing_mid_training_ends_the_run_failed(
    together_env: TogetherEmulator, sft_file: Path
) -> None:
    together_env.fail_next_job(at_step=3, message="Training failed: loss became NaN")
    events: list[Event] = []
    with pytest.raises(RunFailed, match="loss became NaN"):
        job(sft_file).run(backend="together", on_event=events.append, progress=False)
    assert isinstance(events[-1], Failed)
    assert any(isinstance(e, Log) and e.level == "error" for e in events)
    assert max(e.step for e in events if isinstance(e, Progress)) == 3


def test_cancel_stops_the_remote_job(together_env: TogetherEmulator, data) -> None:
    together_env.state.set_timing(seconds_per_step=0.1)
    submitted = job(data.write("many.jsonl", data.chat(64))).submit("together")
    seen: list[Event] = []
    for event in submitted.events():
        seen.append(event)
        if isinstance(event, Progress) and event.step == 2:
            submitted.cancel()

    assert isinstance(seen[-1], Cancelled)
    [remote] = together_env.state.list_jobs()
    assert remote.status() == "cancelled"
    assert max(e.step for e in seen if isinstance(e, Progress)) < remote.total_steps


def test_create_that_times_out_makes_exactly_one_job(
    together_env: TogetherEmulator, sft_file: Path
) -> None:
    together_env.fault(kind="delay", delay_s=1.0, method="POST", path="/v1/fine-tunes$")
    events = run(job(sft_file, backend_options={"together": {"timeout": 0.3}}))

    assert isinstance(events[-1], Completed)
    assert len(together_env.state.list_jobs()) == 1


def test_every_injected_fault_is_survived_with_nothing_lost(
    together_env: TogetherEmulator, sft_file: Path
) -> None:
    together_env.fault(status=429, path="/v1/files", times=2, retry_after=0)
    together_env.fault(kind="drop", method="PUT", path="/_storage/uploads/")
    together_env.fault(kind="commit_then_drop", method="POST", path="/v1/fine-tunes$")
    together_env.fault(status=500, method="GET", path="/v1/fine-tunes/", times=2)
    together_env.fault(kind="delay", delay_s=0.2, method="GET", path="/v1/fine-tunes/")
    together_env.fault(status=503, method="GET", path="/v1/fine-tunes/", times=1)

    events = run(job(sft_file))

    assert isinstance(events[-1], Completed)
    assert [e.step for e in events if isinstance(e, Progress)] == [1, 2, 3, 4]
    assert len(together_env.state.list_jobs()) == 1
    assert len([f for f in together_env.state.files.files.values() if f.usable]) == 1


def test_bad_data_is_rejected_before_any_upload(together_env: TogetherEmulator, data) -> None:
    rows = data.chat(6)
    rows[4] = {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}
    with pytest.raises(DataError) as caught:
        job(rows).run(backend="together", progress=False)
    assert "5" in str(caught.value)
    assert together_env.faults.requests == []


def test_unknown_base_model_is_rejected_at_plan_time(
    together_env: TogetherEmulator, sft_file: Path
) -> None:
    with pytest.raises(JobError, match="not a base model"):
        job(sft_file, model="acme/private-13b").run(backend="together", progress=False)
    assert together_env.faults.requests == []
