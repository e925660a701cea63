"""Whole runs through the public API: ``Job.run`` / ``submit`` / ``Run.attach`` on the emulator.

The official SDK talks to the emulator over real HTTP; only the environment points it there.
"""

from __future__ import annotations

import json

import pytest

import tunesdk as ts
from tunesdk.errors import DataError, JobError, TuneError
from tunesdk.events import (
    Cancelled,
    Checkpoint,
    Completed,
    Evaluation,
    Progress,
    StatusChanged,
)
from tunesdk_openai.backend import OpenAIBackend

pytest.importorskip("tunesdk.run", reason="the core's run layer (tunesdk.run) is not installed")
pytestmark = pytest.mark.usefixtures("openai_env")

MODEL = "gpt-4o-mini-2024-07-18"


def _job(samples, **fields):
    base = {"model": MODEL, "data": samples.chat(12), "epochs": 2, "batch_size": 4}
    return ts.Job(**(base | fields))


def _run(job):
    events: list = []
    job.run(backend="openai", on_event=events.append, progress=False)
    return events


def _only_job(emulator):
    [job] = emulator.world.jobs.values()
    return job


def test_sft_run_completes_with_events_in_order(emulator, samples):
    emulator.settings.validate_s = emulator.settings.queue_s = 0.4  # long enough to be polled
    job = _job(samples, eval_data=samples.chat(10), suffix="adder", seed=11)
    events = _run(job)

    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    statuses = [e.status for e in events if isinstance(e, StatusChanged)]
    assert list(dict.fromkeys(statuses)) == ["validating", "uploading", "queued", "running"]
    steps = [e.step for e in events if isinstance(e, Progress)]
    assert steps == list(range(1, 7))  # 12 examples / batch 4 × 2 epochs
    assert [e.step for e in events if isinstance(e, Checkpoint)] == [3, 6]
    assert any(isinstance(e, Evaluation) for e in events)

    completed = events[-1]
    assert isinstance(completed, Completed)
    remote = _only_job(emulator)
    assert completed.model == ts.ProviderModel(
        provider="openai", model_id=remote.fine_tuned_model, base_model=MODEL, job_id=remote.id
    )
    assert completed.metrics.get("train_loss") is not None


def test_the_plan_is_exactly_what_openai_received(emulator, samples):
    job = _job(samples, eval_data=samples.chat(10), suffix="adder")
    plan = job.plan("openai")
    # the core adds the launcher's rows (resources.* on a provider); the request is the backend's
    assert plan.native == OpenAIBackend().plan(job).native
    events = _run(job)
    remote = _only_job(emulator)
    run_id = events[0].run_id
    expected = json.loads(
        json.dumps(plan.native["job"])
        .replace("<file id of train.jsonl>", remote.training_file)
        .replace("<file id of eval.jsonl>", str(remote.validation_file))
        .replace("<run id>", run_id)
    )
    assert remote.request == expected
    uploaded = {f.filename for f in emulator.world.files.values() if f.purpose == "fine-tune"}
    assert uploaded == {f"{run_id}.train.jsonl", f"{run_id}.eval.jsonl"}


def test_dpo_run_completes(emulator, samples):
    job = ts.Job(model="gpt-4.1-mini-2025-04-14", data=samples.dpo(12), beta=0.25, batch_size=6)
    events = _run(job)
    assert isinstance(events[-1], Completed)
    remote = _only_job(emulator)
    assert remote.method == "dpo" and remote.hyperparameters.beta == 0.25
    assert [e.step for e in events if isinstance(e, Progress)] == [1, 2]


def test_chat_and_generate_on_the_result(emulator, samples):
    events = _run(_job(samples))
    model = events[-1].model
    answer = model.chat([{"role": "user", "content": "What is 3 + 3?"}])
    assert answer == f"[{model.model_id}] (fine-tuned by {model.job_id}) You said: What is 3 + 3?"
    assert model.generate("hello").endswith("You said: hello")


def test_cancel_stops_the_remote_job(emulator, samples):
    emulator.settings.seconds_per_step = 0.2
    run = _job(samples, data=samples.chat(40), batch_size=1).submit("openai")
    seen = []
    for event in run.events():
        seen.append(event)
        if isinstance(event, Progress) and event.step == 2:
            run.cancel()
    assert isinstance(seen[-1], Cancelled)
    assert _only_job(emulator).status == "cancelled"
    assert max(e.step for e in seen if isinstance(e, Progress)) < 40


def test_too_few_examples_are_rejected_before_any_upload(emulator, samples):
    with pytest.raises(DataError, match="10"):
        _job(samples, data=samples.chat(4)).run(backend="openai", progress=False)
    assert emulator.faults.requests == []


def test_unknown_base_model_is_rejected_before_anything_is_sent(emulator, samples):
    with pytest.raises(JobError, match="cannot fine-tune"):
        _job(samples, model="Qwen/Qwen2.5-0.5B-Instruct").run(backend="openai", progress=False)
    assert emulator.faults.requests == []


def test_organization_refused_gets_a_clear_error(emulator, samples):
    emulator.settings.fine_tuning_enabled = False
    with pytest.raises(TuneError) as caught:
        _job(samples).run(backend="openai", progress=False)
    assert "base_url" in str(caught.value)
    assert emulator.world.jobs == {}


def test_azure_openai_run(emulator, samples, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-key-for-tests")
    options = {"openai": {"azure_endpoint": emulator.url, "api_version": "2025-04-01-preview"}}
    events = _run(_job(samples, model="gpt-4o-mini", backend_options=options))
    assert isinstance(events[-1], Completed)
    assert all(r.path.startswith("/openai/") for r in emulator.faults.requests)
