"""The recovery suite (`tunesdk.testing.recovery`) against the OpenAI emulator, plus a submitter
really killed (SIGKILL) mid-upload and follow loops through failing polls.

A lost upload answer is the one to ``POST /v1/files``: the repeat finds the file by its name
(``<run id>.train.jsonl``) and size instead of sending it again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import openai
import pytest

import tunesdk as ts
from tunesdk.store import RunStore
from tunesdk.testing import tiny_chat_data
from tunesdk.testing.recovery import RecoveryContract, RecoveryFacts

MODEL = "gpt-4o-mini-2024-07-18"
UPLOAD = ("POST", "/v1/files")


def _files(emulator: Any, key: str) -> int:
    client = openai.OpenAI(base_url=emulator.base_url, api_key=key)
    return len(client.files.list(purpose="fine-tune").data)


class TestOpenAIRecovery(RecoveryContract):
    @pytest.fixture
    def recovery_facts(self, providers: Any) -> RecoveryFacts:
        return providers.recovery_facts(
            "openai",
            job={"model": MODEL, "data": tiny_chat_data(12), "epochs": 1, "batch_size": 4},
            upload=UPLOAD,
            create=("POST", "/v1/fine_tuning/jobs"),
            stored_files=_files,
        )


def _count(provider, method: str, path: str) -> int:
    return sum(1 for r in provider.requests if r.method == method and r.path == path)


def _job(samples) -> ts.Job:
    return ts.Job(model=MODEL, data=samples.chat(12), epochs=1, batch_size=4)


def _stored_files(provider, run_id: str) -> list[str]:
    client = openai.OpenAI(base_url=provider.emulator.base_url, api_key=provider.api_key)
    return [f.id for f in client.files.list(purpose="fine-tune") if f.filename.startswith(run_id)]


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
