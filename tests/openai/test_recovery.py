"""OpenAI runs whose submitter died mid-launch recover; a wrong key sends no data; follow loops
stay bounded while the API fails.

A dead submitter is either a real process killed with SIGKILL mid-upload, or a launch whose one
allowed attempt met an emulator fault (the state a process killed right there leaves behind).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import openai
import pytest

import tunesdk as ts
from tunesdk.errors import AuthError
from tunesdk.events import Completed
from tunesdk.managed import RetryPolicy
from tunesdk.store import RunStore
from tunesdk_openai.backend import OpenAIBackend

MODEL = "gpt-4o-mini-2024-07-18"
UPLOAD = ("POST", "/v1/files")
CREATE = ("POST", "/v1/fine_tuning/jobs")


def _count(provider, method: str, path: str) -> int:
    return sum(1 for r in provider.requests if r.method == method and r.path == path)


def _job(samples) -> ts.Job:
    return ts.Job(model=MODEL, data=samples.chat(12), epochs=1, batch_size=4)


def _stored_files(provider, run_id: str) -> list[str]:
    client = openai.OpenAI(base_url=provider.emulator.base_url, api_key=provider.api_key)
    return [f.id for f in client.files.list(purpose="fine-tune") if f.filename.startswith(run_id)]


def _cut_short(provider, monkeypatch, job: ts.Job, method: str, path: str) -> str:
    """Launch with one attempt per call and the answer to ``method path`` lost: the state a
    submitter killed right after sending it leaves."""
    provider.emulator.faults.add(kind="commit_then_drop", method=method, path=path + "$")
    monkeypatch.setattr(OpenAIBackend, "retry_policy", RetryPolicy(1, 0.01, 0.01))
    backend = OpenAIBackend()
    record = RunStore().create(job, backend.plan(job), "openai")
    with pytest.raises(ts.ProviderError):
        backend.launch(record)
    monkeypatch.setattr(OpenAIBackend, "retry_policy", RetryPolicy(6, 0.01, 0.05))
    return record.run_id


@pytest.mark.parametrize("lost", [UPLOAD, CREATE], ids=["upload", "create"])
def test_a_launch_cut_short_finishes_with_one_job(provider, openai_env, monkeypatch, samples, lost):
    run_id = _cut_short(provider, monkeypatch, _job(samples), *lost)
    assert ts.Run.attach(run_id).status == "uploading"

    events = list(ts.Run.attach(run_id).events(timeout=20))

    assert isinstance(events[-1], Completed)
    assert provider.jobs() == 1 and _count(provider, *CREATE) == 1
    assert len(_stored_files(provider, run_id)) == 1 and _count(provider, *UPLOAD) == 1


def test_a_submitter_killed_while_uploading(provider, openai_env, samples, tmp_path):
    data = samples.write(tmp_path / "train.jsonl", samples.chat(12))
    provider.emulator.faults.add(kind="delay", delay_s=2.0, method="POST", path="/v1/files$")
    script = (
        "import sys, tunesdk as ts\n"
        f"job = ts.Job(model={MODEL!r}, data=sys.argv[1], epochs=1, batch_size=4)\n"
        "ts.Run.submit(job, 'openai')\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script, str(data)], env=dict(os.environ))
    try:
        deadline = time.monotonic() + 30
        while _count(provider, *UPLOAD) == 0:
            assert time.monotonic() < deadline and child.poll() is None, "no upload started"
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    # the delayed request ends server-side (stored or not) before anyone looks for the file
    while any(r.status is None for r in provider.requests if (r.method, r.path) == UPLOAD):
        time.sleep(0.05)
    (record,) = RunStore().list()
    assert record.status == "uploading"

    result = ts.Run.attach(record.run_id).wait(timeout=20)

    assert result.status == "completed"
    assert provider.jobs() == 1 and len(_stored_files(provider, record.run_id)) == 1


def test_cancel_before_any_job_is_immediate(provider, openai_env, monkeypatch, samples):
    run_id = _cut_short(provider, monkeypatch, _job(samples), *UPLOAD)
    run = ts.Run.attach(run_id)
    started = time.monotonic()
    run.cancel()
    assert run.status == "cancelled" and provider.jobs() == 0
    assert time.monotonic() - started < 5  # no 600 s grace


def test_a_wrong_key_sends_no_data(providers, monkeypatch, tmp_path, samples):
    with providers.openai(api_keys={"sk-right-0123456789abcdefghij"}) as provider:
        provider.wire(monkeypatch, tmp_path / "home")
        with pytest.raises(AuthError, match="rejected the API key"):
            _job(samples).submit("openai")
        assert _count(provider, *UPLOAD) == 0 and provider.jobs() == 0
        assert [(r.method, r.status) for r in provider.requests] == [("GET", 401)]


def test_polls_that_fail_log_one_warning_and_back_off(provider, openai_env, samples):
    run = _job(samples).submit("openai")
    seen = run.record.events()[-1].seq
    before = len(provider.requests)
    provider.emulator.faults.add(status=503, method="GET", times=10**6)
    with pytest.raises(TimeoutError):
        list(run.events(after=seen, timeout=2.0))
    warnings = [
        line
        for line in run.record.events_path.read_text().splitlines()
        if "poll failed" in json.loads(line).get("message", "")
    ]
    assert len(warnings) == 1
    # one poll = 6 attempts; backoff between polls from 0.02 s, doubling to 0.1 s
    assert len(provider.requests) - before <= 6 * (2.0 / 0.02)


def test_attaching_without_a_key_is_an_auth_error(provider, openai_env, samples, monkeypatch):
    run = _job(samples).submit("openai")
    monkeypatch.delenv("OPENAI_API_KEY")
    lines = len(run.record.events())
    with pytest.raises(AuthError, match="no API key"):
        ts.Run.attach(run.run_id).wait(timeout=10)
    assert len(run.record.events()) == lines


def _list(client):
    return client.files.list(purpose="fine-tune", limit=1)


@pytest.mark.parametrize(
    ("status", "message", "kind"),
    [
        (404, "The model 'nope' does not exist", ts.ModelNotFound),
        (400, "invalid parameter n_epochs", ts.InvalidRequest),
        (401, "invalid key", ts.AuthError),
        (402, "out of credit", ts.QuotaExceeded),
        (503, "busy", ts.ProviderError),
    ],
)
def test_one_error_hierarchy_for_every_provider(provider, openai_env, status, message, kind):
    provider.emulator.faults.add(status=status, message=message, times=10)
    backend = OpenAIBackend()
    with pytest.raises(ts.ProviderError) as caught:
        backend.retrying(lambda: _list(backend.client(None)))
    assert type(caught.value) is kind and caught.value.status == status
    assert caught.value.provider == "openai"
