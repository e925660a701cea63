"""Whole runs through the public API: ``Job.run`` / ``submit`` / ``Run.attach`` on the emulator.

The official SDK talks to the emulator over real HTTP; only the environment points it there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

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
from tunesdk.managed import RetryPolicy
from tunesdk_openai.backend import OpenAIBackend

pytest.importorskip("tunesdk.run", reason="the core's run layer (tunesdk.run) is not installed")

MODEL = "gpt-4o-mini-2024-07-18"


@pytest.fixture(autouse=True)
def openai_env(emulator, monkeypatch, tmp_path, api_key):
    monkeypatch.setenv("OPENAI_API_KEY", api_key)
    monkeypatch.setenv("OPENAI_BASE_URL", emulator.base_url)
    monkeypatch.setenv("TUNESDK_HOME", str(tmp_path / "home"))
    for name in ("AZURE_OPENAI_ENDPOINT", "OPENAI_API_VERSION", "AZURE_OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(OpenAIBackend, "poll_interval", (0.05, 0.2))
    monkeypatch.setattr(
        OpenAIBackend, "retry_policy", RetryPolicy(first_delay_s=0.02, max_delay_s=0.1)
    )


def _job(samples, **fields):
    base = {"model": MODEL, "data": samples.sft(12), "epochs": 2, "batch_size": 4}
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
    job = _job(samples, eval_data=samples.sft(10), suffix="adder", seed=11)
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
    job = _job(samples, eval_data=samples.sft(10), suffix="adder")
    plan = job.plan("openai")
    assert plan == OpenAIBackend().plan(job)
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
    assert (
        ts.load_model(model.to_uri())
        .chat([{"role": "user", "content": "x"}])
        .startswith(f"[{model.model_id}]")
    )


def test_cancel_stops_the_remote_job(emulator, samples):
    emulator.settings.seconds_per_step = 0.2
    run = _job(samples, data=samples.sft(40), batch_size=1).submit("openai")
    seen = []
    for event in run.events():
        seen.append(event)
        if isinstance(event, Progress) and event.step == 2:
            run.cancel()
    assert isinstance(seen[-1], Cancelled)
    assert _only_job(emulator).status == "cancelled"
    assert max(e.step for e in seen if isinstance(e, Progress)) < 40


_SUBMIT_THEN_DIE = textwrap.dedent(
    """
    import json, os, signal, sys, time
    import tunesdk as ts
    from tunesdk.events import Progress

    rows = json.loads(sys.argv[1])
    run = ts.Job(model="gpt-4o-mini-2024-07-18", data=rows, epochs=2, batch_size=1).submit("openai")
    print(run.run_id, flush=True)
    for event in run.events():
        if isinstance(event, Progress) and event.step >= 3:
            os.kill(os.getpid(), signal.SIGKILL)  # die mid-run, without any cleanup
    """
)


def test_attach_resumes_after_the_submitting_process_was_killed(emulator, samples, tmp_path):
    emulator.settings.seconds_per_step = 0.05
    child = subprocess.run(
        [sys.executable, "-c", _SUBMIT_THEN_DIE, json.dumps(samples.sft(12))],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=60,
    )
    assert child.returncode == -9, child.stderr
    run_id = child.stdout.split()[0]

    events = list(ts.Run.attach(run_id).events())
    assert isinstance(events[-1], Completed)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    source_ids = [e.source_id for e in events if e.source_id]
    assert len(source_ids) == len(set(source_ids))
    assert [e.step for e in events if isinstance(e, Progress)] == list(range(1, 25))
    assert len(emulator.world.jobs) == 1


def test_bad_data_is_rejected_before_any_upload(emulator, samples):
    rows = samples.sft(12)
    rows[4] = {"messages": [{"role": "user", "content": "no reply"}]}
    with pytest.raises(DataError) as caught:
        _job(samples, data=rows).run(backend="openai", progress=False)
    assert "5" in str(caught.value)  # the line of the bad example
    assert emulator.faults.requests == []


def test_too_few_examples_are_rejected_before_any_upload(emulator, samples):
    with pytest.raises(DataError, match="10"):
        _job(samples, data=samples.sft(4)).run(backend="openai", progress=False)
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


def test_api_key_is_never_written_to_the_run_folder(samples, api_key, tmp_path):
    options = {"openai": {"api_key": api_key}}
    events = _run(_job(samples, backend_options=options))
    assert isinstance(events[-1], Completed)
    for path in Path(tmp_path / "home").rglob("*"):
        if path.is_file():
            assert api_key not in path.read_text(errors="ignore"), path


def test_azure_openai_run(emulator, samples, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-key-for-tests")
    options = {"openai": {"azure_endpoint": emulator.url, "api_version": "2025-04-01-preview"}}
    events = _run(_job(samples, model="gpt-4o-mini", backend_options=options))
    assert isinstance(events[-1], Completed)
    assert all(r.path.startswith("/openai/") for r in emulator.faults.requests)
