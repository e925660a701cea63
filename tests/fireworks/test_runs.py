"""Whole runs through the public API (``Job.run`` / ``submit`` / ``Run.attach``) on the emulator.

The official ``fireworks-ai`` SDK talks to the emulator over real HTTP; only the environment points
it there (``FIREWORKS_BASE_URL``, dummy ``FIREWORKS_API_KEY`` and ``FIREWORKS_ACCOUNT_ID``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tunesdk.errors import DataError, JobError, RunFailed
from tunesdk.events import (
    Cancelled,
    Checkpoint,
    Completed,
    Event,
    Failed,
    Progress,
    StatusChanged,
)
from tunesdk.job import Job
from tunesdk.models import ProviderModel
from tunesdk_fireworks.emulator import FireworksEmulator

run_module = pytest.importorskip("tunesdk.run", reason="the core's run layer is not installed")
pytestmark = pytest.mark.usefixtures("fireworks_env")

MODEL = "Qwen/Qwen2.5-7B-Instruct"
ACCOUNT = "acme"


def job(data: Path | list[dict[str, Any]], **fields: Any) -> Job:
    source = str(data) if isinstance(data, Path) else data
    return Job(**({"model": MODEL, "data": source, "epochs": 2, "batch_size": 2} | fields))


def run(the_job: Job) -> list[Event]:
    events: list[Event] = []
    the_job.run(backend="fireworks", on_event=events.append, progress=False)
    return events


def test_sft_run_completes_with_events_in_order(
    fireworks_env: FireworksEmulator, tmp_path: Path, samples
) -> None:
    train = samples.write(tmp_path / "train.jsonl", samples.chat(8))
    evals = samples.write(tmp_path / "eval.jsonl", samples.chat(4))
    events = run(job(train, eval_data=str(evals), suffix="support"))

    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    statuses = [(e.status, e.provider_status) for e in events if isinstance(e, StatusChanged)]
    assert statuses[:2] == [("validating", None), ("uploading", None)]
    provider = [p for _, p in statuses if p]
    order = [
        "JOB_STATE_CREATING",
        "JOB_STATE_VALIDATING",
        "JOB_STATE_PENDING",
        "JOB_STATE_RUNNING",
        "JOB_STATE_WRITING_RESULTS",
    ]
    assert provider == sorted(provider, key=order.index)  # in lifecycle order, none repeated
    assert "JOB_STATE_RUNNING" in provider
    percents = [e.step for e in events if isinstance(e, Progress)]
    assert percents == sorted(set(percents)) and percents[-1] == 100
    running = next(i for i, e in enumerate(events) if getattr(e, "status", None) == "running")
    assert running < next(i for i, e in enumerate(events) if isinstance(e, Progress))
    assert isinstance(events[-2], Checkpoint)

    done = events[-1]
    assert isinstance(done, Completed)
    run_id = events[0].run_id
    expected_model = f"accounts/{ACCOUNT}/models/support-{run_id}"
    assert done.model == ProviderModel(
        provider="fireworks",
        model_id=expected_model,
        base_model=MODEL,
        job_id=f"accounts/{ACCOUNT}/supervisedFineTuningJobs/{run_id}",
    )
    [remote] = fireworks_env.state.jobs.values()
    assert remote.body["evaluationDataset"] == f"accounts/{ACCOUNT}/datasets/{run_id}-eval"


def test_the_plan_is_exactly_what_fireworks_received(
    fireworks_env: FireworksEmulator, tmp_path: Path, samples
) -> None:
    from tunesdk.methods import LoRA

    train = samples.write(tmp_path / "train.jsonl", samples.chat(8))
    the_job = job(train, method=LoRA(r=8), learning_rate=1e-4, warmup_ratio=0.5, weight_decay=0.01)
    plan = the_job.plan("fireworks")
    run_id = run(the_job)[0].run_id
    [remote] = fireworks_env.state.jobs.values()
    expected = json.loads(json.dumps(plan.native).replace("{run_id}", run_id))
    assert remote.body == expected
    assert remote.body["learningRateWarmupSteps"] == 4  # 0.5 x 2 epochs x 8/2 steps


def test_dpo_run_completes_with_losses(
    fireworks_env: FireworksEmulator, tmp_path: Path, samples
) -> None:
    prefs = samples.write(tmp_path / "prefs.jsonl", samples.dpo(6))
    events = run(job(prefs, beta=0.25))
    assert isinstance(events[-1], Completed)
    [remote] = fireworks_env.state.jobs.values()
    assert remote.kind == "dpo"
    assert remote.body["lossConfig"] == {"method": "DPO", "dpo": {"beta": 0.25}}
    progress = [e for e in events if isinstance(e, Progress)]
    assert [e.step for e in progress] == [1, 2, 3, 4, 5, 6]
    assert all(e.train_loss is not None for e in progress)
    assert progress[-1].train_loss < progress[0].train_loss


def test_a_job_failing_mid_training_ends_the_run_failed(
    fireworks_env: FireworksEmulator, tmp_path: Path, samples
) -> None:
    fireworks_env.config.fail_at_step = 3
    train = samples.write(tmp_path / "train.jsonl", samples.chat(8))
    events: list[Event] = []
    with pytest.raises(RunFailed, match="failed at step 3"):
        job(train).run(backend="fireworks", on_event=events.append, progress=False)
    assert isinstance(events[-1], Failed)


def test_cancel_stops_the_remote_job(
    fireworks_env: FireworksEmulator, tmp_path: Path, samples
) -> None:
    fireworks_env.config.seconds_per_step = 0.2
    train = samples.write(tmp_path / "train.jsonl", samples.chat(16))
    submitted = job(train, batch_size=1).submit("fireworks")
    seen: list[Event] = []
    for event in submitted.events():
        seen.append(event)
        if isinstance(event, Progress):
            submitted.cancel()
    assert isinstance(seen[-1], Cancelled)
    [remote] = fireworks_env.state.jobs.values()
    assert remote.final_state == "JOB_STATE_CANCELLED"
    assert "JOB_STATE_CANCELLING" in [getattr(e, "provider_status", None) for e in seen]


def test_a_create_that_times_out_makes_exactly_one_job(
    fireworks_env: FireworksEmulator, tmp_path: Path, samples
) -> None:
    train = samples.write(tmp_path / "train.jsonl", samples.chat(8))
    fireworks_env.faults.add(
        kind="delay", delay_s=1.0, method="POST", path="/v1/accounts/acme/supervisedFineTuningJobs"
    )
    events = run(job(train, backend_options={"fireworks": {"timeout_s": 0.3}}))
    assert isinstance(events[-1], Completed)
    assert len(fireworks_env.state.jobs) == 1


def test_every_injected_fault_is_survived_with_nothing_lost(
    fireworks_env: FireworksEmulator, tmp_path: Path, samples
) -> None:
    train = samples.write(tmp_path / "train.jsonl", samples.chat(8))
    faults = fireworks_env.faults
    faults.add(kind="status", status=429, times=2, retry_after=0, path="/v1/accounts/acme/datasets")
    faults.add(kind="drop", method="POST", path="/v1/accounts/acme/datasets/")
    faults.add(kind="commit_then_drop", method="POST", path="/v1/accounts/acme/supervised")
    faults.add(
        kind="status", status=500, times=2, method="GET", path="/v1/accounts/acme/supervised"
    )
    faults.add(kind="delay", delay_s=0.2, method="GET", path="/v1/accounts/acme/supervised")
    faults.add(kind="status", status=503, method="GET", path="/v1/accounts/acme/supervised")

    events = run(job(train))

    assert isinstance(events[-1], Completed)
    assert sum(1 for r in faults.requests if r.fault) == 8
    assert len(fireworks_env.state.jobs) == 1
    assert len(fireworks_env.state.datasets) == 1
    percents = [e.step for e in events if isinstance(e, Progress)]
    assert percents == sorted(set(percents)) and percents[-1] == 100


def test_bad_data_is_rejected_before_any_upload(fireworks_env: FireworksEmulator, samples) -> None:
    rows = samples.chat(6)
    rows[4]["messages"].append({"role": "system", "content": "too late"})
    with pytest.raises(DataError) as caught:
        job(rows).run(backend="fireworks", progress=False)
    assert "system" in str(caught.value)
    assert fireworks_env.faults.requests == []


def test_unknown_base_model_is_rejected_at_plan_time(
    fireworks_env: FireworksEmulator, tmp_path: Path, samples
) -> None:
    train = samples.write(tmp_path / "train.jsonl", samples.chat(8))
    with pytest.raises(JobError, match="Fireworks has no known model"):
        job(train, model="Qwen/Qwen2.5-0.5B-Instruct").run(backend="fireworks", progress=False)
    assert fireworks_env.faults.requests == []


@pytest.mark.parametrize(
    ("examples", "eval_split", "train", "held_out"),
    [(8, 0.25, 6, 2), (4, 0.5, 2, 2), (10, 0.8, 2, 8)],
)
def test_each_half_of_an_eval_split_needs_the_minimum_before_any_upload(
    fireworks_env: FireworksEmulator, samples, examples, eval_split, train, held_out
) -> None:
    the_job = job(samples.chat(examples), eval_split=eval_split)
    with pytest.raises(DataError) as refused:
        the_job.run(backend="fireworks", progress=False)
    message = str(refused.value)
    assert f"eval_split={eval_split}" in message
    assert f"{train} for training and {held_out} for evaluation" in message
    assert "at least 3" in message
    assert refused.value.where == "job.eval_split"
    assert fireworks_env.faults.requests == []


def test_an_eval_split_leaving_enough_in_each_half_runs(
    fireworks_env: FireworksEmulator, samples
) -> None:
    events = run(job(samples.chat(12), eval_split=0.25))
    assert isinstance(events[-1], Completed)
    assert len(fireworks_env.state.datasets) == 2
