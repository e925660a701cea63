"""Fireworks runs whose submitter died mid-launch recover with one job; a wrong key sends no data.

A dead submitter here is a launch whose one allowed attempt met an emulator fault that commits
the request and drops its answer: the state a process killed right after sending it leaves.
"""

from __future__ import annotations

import time

import pytest

import tunesdk as ts
from tunesdk.errors import AuthError
from tunesdk.events import Completed
from tunesdk.managed import RetryPolicy
from tunesdk.store import RunStore
from tunesdk_fireworks.backend import FireworksBackend

MODEL = "llama-v3p1-8b-instruct"
#: the dataset's ``:upload``; the dataset is named after the run, so a repeat finishes that one
UPLOAD = ("POST", "/v1/accounts/acme/datasets/")
CREATE = ("POST", "/v1/accounts/acme/supervisedFineTuningJobs")
ONLY_KEY = {"api_key": "fw-the-right-key"}


def _job(samples) -> ts.Job:
    return ts.Job(model=MODEL, data=samples.chat(16), epochs=1)


def _stored_files(provider) -> int:
    import fireworks

    client = fireworks.Fireworks(
        api_key=provider.api_key, account_id="acme", base_url=provider.emulator.base_url
    )
    return len(list(client.datasets.list()))


def _count(provider, method: str, path: str) -> int:
    """Requests to exactly ``path`` (``path/`` prefixes count every path under it)."""
    if path.endswith("/"):
        return sum(1 for r in provider.requests if r.method == method and r.path.startswith(path))
    return sum(1 for r in provider.requests if r.method == method and r.path == path)


def _cut_short(provider, monkeypatch, job: ts.Job, method: str, path: str) -> str:
    """Launch with one attempt per call while the answer to ``method path`` is lost."""
    exact = path if path.endswith("/") else path + "$"
    provider.emulator.faults.add(kind="commit_then_drop", method=method, path=exact)
    monkeypatch.setattr(FireworksBackend, "retry_policy", RetryPolicy(1, 0.01, 0.01))
    backend = FireworksBackend()
    record = RunStore().create(job, backend.plan(job), "fireworks")
    with pytest.raises(ts.ProviderError):
        backend.launch(record)
    monkeypatch.setattr(FireworksBackend, "retry_policy", RetryPolicy(6, 0.01, 0.05))
    return record.run_id


@pytest.mark.parametrize("lost", [UPLOAD, CREATE], ids=["upload", "create"])
def test_a_launch_cut_short_finishes_with_one_job(
    provider, fireworks_env, monkeypatch, samples, lost
):
    run_id = _cut_short(provider, monkeypatch, _job(samples), *lost)
    assert ts.Run.attach(run_id).status == "uploading"

    events = list(ts.Run.attach(run_id).events(timeout=20))

    assert isinstance(events[-1], Completed)
    assert provider.jobs() == 1 and _count(provider, *CREATE) == 1
    assert _stored_files(provider) == 1


def test_cancel_before_any_job_is_immediate(provider, fireworks_env, monkeypatch, samples):
    run_id = _cut_short(provider, monkeypatch, _job(samples), *UPLOAD)
    run = ts.Run.attach(run_id)
    started = time.monotonic()
    run.cancel()
    assert run.status == "cancelled" and provider.jobs() == 0
    assert time.monotonic() - started < 5  # no grace wait: there is nothing to wait for


def test_a_wrong_key_sends_no_data(providers, monkeypatch, tmp_path, samples):
    with providers.start("fireworks", **ONLY_KEY) as provider:
        provider.wire(monkeypatch, tmp_path / "home")
        with pytest.raises(AuthError):
            _job(samples).submit("fireworks")
        assert _count(provider, *UPLOAD) == 0 and provider.jobs() == 0
        assert [(r.method, r.status) for r in provider.requests] == [("GET", 401)]


def test_attaching_without_a_key_is_an_auth_error(provider, fireworks_env, samples, monkeypatch):
    run = _job(samples).submit("fireworks")
    monkeypatch.delenv(FireworksBackend.api_key_env)
    seen = len(run.record.events())
    with pytest.raises(AuthError, match=r"(?i)no .*API key"):
        ts.Run.attach(run.run_id).wait(timeout=10)
    assert len(run.record.events()) == seen


def _list(client):
    return client.datasets.list(page_size=1)


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
def test_one_error_hierarchy_for_every_provider(provider, fireworks_env, status, message, kind):
    provider.emulator.faults.add(status=status, message=message, times=10)
    backend = FireworksBackend()
    with pytest.raises(ts.ProviderError) as caught:
        backend.retrying(lambda: _list(backend.client(None)))
    assert type(caught.value) is kind and caught.value.status == status
    assert caught.value.provider == "fireworks"
