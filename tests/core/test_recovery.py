"""Managed runs that lost their submitter recover, and follow loops stay bounded and end.

An in-memory provider (``FakeProvider``) behind a real `ManagedBackend` makes each case exact: a
"killed" submitter is a launch interrupted by an exception that no handler catches (the launch
lease is released, as a dead process's flock is), leaving the state a dead process leaves.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest

import tunesdk as ts
from tunesdk.backend import validate_job_data
from tunesdk.errors import AuthError, ProviderError
from tunesdk.events import Cancelled, Completed, Event, Log, Progress
from tunesdk.managed import QUOTA_WORDS, ManagedBackend, RemoteJob, RetryPolicy, launch_lease
from tunesdk.store import RunRecord, RunStore

NAME = "fakeprov"


class Killed(BaseException):
    """Stands for SIGKILL: nothing in tunesdk catches it, nothing after it runs."""


@dataclass
class World:
    """The provider's side: what it stored, and the faults the next calls meet."""

    key: str = "good-key"
    files: dict[str, str] = field(default_factory=dict)  # file id -> filename
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    #: call name -> "kill" (die before the call reaches the provider), "kill-after" (the call
    #: takes effect, then the caller dies), or an exception to raise
    faults: dict[str, Any] = field(default_factory=dict)
    down: bool = False  # every call fails with a dropped connection

    def call(self, name: str, key: str) -> None:
        self.calls.append(name)
        if self.down:
            raise ConnectionError("connection refused")
        if key != self.key:
            raise AuthError("the provider refused the key", provider=NAME, status=401)
        fault = self.faults.get(name)
        if fault == "kill":
            del self.faults[name]
            raise Killed(name)
        if isinstance(fault, BaseException):
            raise fault

    def after(self, name: str) -> None:
        if self.faults.get(name) == "kill-after":
            del self.faults[name]
            raise Killed(name)

    def count(self, name: str) -> int:
        return self.calls.count(name)


class FakeProvider(ManagedBackend):
    """A managed backend whose provider is `World`; jobs finish after ``steps`` polls."""

    name = NAME
    provider = NAME
    api_key_env = "FAKEPROV_API_KEY"
    data_format = "openai"
    sdk_module = "json"
    status_map: ClassVar[dict[str, Any]] = {
        "queued": "queued",
        "running": "running",
        "succeeded": "completed",
        "cancelled": "cancelled",
    }
    capabilities = ts.Capabilities(
        objectives=frozenset({"sft"}), methods=frozenset({"lora", "full"})
    )
    poll_interval = (0.02, 0.1)
    retry_policy = RetryPolicy(2, 0.001, 0.002)
    credit_words = QUOTA_WORDS
    world: ClassVar[World] = World()
    steps = 3

    def plan(self, job: ts.Job) -> ts.Plan:
        builder = ts.PlanBuilder(job, self.name, self.kind)
        builder.native = {"model": job.model}
        return builder.build()

    def preflight(self, job: ts.Job, plan: ts.Plan) -> None:
        validate_job_data(job, NAME)

    def client(self, job: ts.Job | None = None) -> str:
        return self.api_key(job)

    def verify_credentials(self, run: RunRecord) -> None:
        self.world.call("verify", self.client(run.job))

    def upload_file(self, run: RunRecord, path: Path, role: str) -> str:
        self.world.call("upload", self.client(run.job))
        file_id = f"file-{len(self.world.files) + 1}"
        self.world.files[file_id] = f"{run.run_id}.{role}"
        self.world.after("upload")
        return file_id

    def find_upload(self, run: RunRecord, path: Path, role: str) -> str | None:
        self.world.call("find_upload", self.client(run.job))
        names = {name: file_id for file_id, name in self.world.files.items()}
        return names.get(f"{run.run_id}.{role}")

    def create_job(self, run: RunRecord, file_ids: dict[str, str]) -> str:
        self.world.call("create", self.client(run.job))
        job_id = f"job-{len(self.world.jobs) + 1}"
        self.world.jobs[job_id] = {"run": run.run_id, "status": "queued", "polls": 0}
        self.world.after("create")
        return job_id

    def find_job(self, run: RunRecord) -> str | None:
        self.world.call("find_job", self.client(run.job))
        return next((i for i, j in self.world.jobs.items() if j["run"] == run.run_id), None)

    def fetch_job(self, run: RunRecord) -> RemoteJob:
        self.world.call("fetch", self.client(run.job))
        job = self.world.jobs[run.state["remote_job_id"]]
        if job["status"] not in ("succeeded", "cancelled"):
            job["polls"] += 1
            job["status"] = "running" if job["polls"] < self.steps else "succeeded"
        return RemoteJob(status=job["status"], model_id="ft:model")

    def fetch_events(self, run: RunRecord, cursor: Any) -> tuple[list[Event], Any]:
        job = self.world.jobs[run.state["remote_job_id"]]
        done = int(cursor or 0)
        events: list[Event] = [
            Progress(step=step, total_steps=self.steps, source_id=f"step:{step}")
            for step in range(done + 1, min(job["polls"], self.steps) + 1)
        ]
        return events, max(done, min(job["polls"], self.steps))

    def cancel_job(self, run: RunRecord) -> None:
        self.world.call("cancel", self.client(run.job))
        self.world.jobs[run.state["remote_job_id"]]["status"] = "cancelled"


ts.register_backend(NAME, FakeProvider)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    fresh = World()
    monkeypatch.setattr(FakeProvider, "world", fresh)
    monkeypatch.setenv("FAKEPROV_API_KEY", fresh.key)
    return fresh


@pytest.fixture
def job(data_file: Path) -> ts.Job:
    return ts.Job(model="base-model", data=str(data_file))


def dead_submitter(job: ts.Job, fault: str, call: str) -> RunRecord:
    """A run whose submitting process died at ``call`` (``fault``: "kill" or "kill-after"):
    `Run.submit`'s steps, with the launch cut off where SIGKILL would cut it."""
    backend = ts.get_backend(NAME)
    record = RunStore().create(job, backend.plan(job), NAME)
    FakeProvider.world.faults[call] = fault
    with pytest.raises(Killed):
        backend.launch(record)
    return record


def lines(record: RunRecord) -> list[dict[str, Any]]:
    return [json.loads(line) for line in record.events_path.read_text().splitlines()]


# ---- recovery of a launch cut short -------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "call", "uploads", "creates"),
    [
        ("kill", "upload", 1, 1),  # died while sending the file: it was never stored
        ("kill-after", "upload", 1, 1),  # the file was stored, the answer lost: found, not resent
        ("kill", "create", 1, 1),  # died before the create went out
        ("kill-after", "create", 1, 1),  # the job was created, its id never recorded: adopted
    ],
)
def test_attach_finishes_a_run_whose_submitter_died(world, job, fault, call, uploads, creates):
    record = dead_submitter(job, fault, call)
    assert record.status == "uploading" and not record.state.get("remote_job_id")

    events = list(ts.Run.attach(record.run_id).events(timeout=10))

    assert isinstance(events[-1], Completed)
    assert len(world.files) == uploads and len(world.jobs) == 1
    sent_creates = world.count("create") - (1 if fault == "kill" and call == "create" else 0)
    assert sent_creates == creates
    assert [e.step for e in events if isinstance(e, Progress)] == [1, 2, 3]
    seqs = [e.seq for e in record.events()]
    assert seqs == list(range(1, len(seqs) + 1))
    recovered = [e for e in events if isinstance(e, Log) and "resuming the launch" in e.message]
    assert len(recovered) == 1


def test_status_stops_saying_uploading(world, job):
    from typer.testing import CliRunner

    from tunesdk.cli import app

    record = dead_submitter(job, "kill", "upload")
    result = CliRunner().invoke(app, ["status", record.run_id])
    assert result.exit_code == 0, result.output
    assert "uploading" not in result.output and record.status in ("running", "queued")
    assert record.state["remote_job_id"] in world.jobs


def test_a_live_launch_is_left_alone(world, job):
    """While the launching process holds the launch lease, a poller never uploads or creates."""
    record = dead_submitter(job, "kill", "upload")
    calls = len(world.calls)
    with launch_lease(record, wait=True):  # the submitter, still alive, mid-upload
        done = threading.Event()
        thread = threading.Thread(
            target=lambda: (ts.Run.attach(record.run_id).refresh(), done.set())
        )
        thread.start()
        thread.join(5)
        assert done.is_set()
    assert world.calls[calls:] == [] and not world.jobs


def test_a_refused_recovery_fails_the_run(world, job):
    record = dead_submitter(job, "kill", "create")
    world.faults["create"] = ProviderError("bad parameter", provider=NAME, status=400)
    run = ts.Run.attach(record.run_id)
    events = list(run.events(timeout=5))
    assert events[-1].type == "failed" and "bad parameter" in events[-1].error
    assert not world.jobs


# ---- cancel before any remote job -------------------------------------------------------------


def test_cancel_with_no_remote_job_ends_cancelled_at_once(world, job):
    from typer.testing import CliRunner

    from tunesdk.cli import app

    record = dead_submitter(job, "kill", "upload")
    polls = len(world.calls)
    result = CliRunner().invoke(app, ["cancel", record.run_id])  # no grace wait
    assert result.exit_code == 0, result.output
    assert "cancelled" in result.output and record.status == "cancelled"
    assert isinstance(record.events()[-1], Cancelled)
    assert world.calls[polls:] == [] and not world.jobs


def test_cancel_after_a_lost_create_cancels_that_job(world, job):
    record = dead_submitter(job, "kill-after", "create")
    run = ts.Run.attach(record.run_id)
    run.cancel(timeout=5)
    (remote,) = world.jobs.values()
    assert remote["status"] == "cancelled"
    assert run.status == "cancelled"


def test_a_live_launcher_stops_before_create_when_cancelled(world, job, monkeypatch):
    """Cancel from another process while the submitter uploads: it stops before creating."""
    original = FakeProvider.upload_file

    def upload_then_cancel(self, run, path, role):
        file_id = original(self, run, path, role)
        other = ts.Run.attach(run.run_id)
        other.cancel(wait=False)  # the launcher holds the lease: only the request is recorded
        return file_id

    monkeypatch.setattr(FakeProvider, "upload_file", upload_then_cancel)
    run = job.submit(NAME)
    assert run.status == "cancelled" and not world.jobs


# ---- follow loops ------------------------------------------------------------------------------


def running_run(world: World, job: ts.Job) -> ts.Run:
    FakeProvider.steps = 10**6
    run = job.submit(NAME)
    run.refresh()
    return run


@pytest.fixture(autouse=True)
def _steps():
    yield
    FakeProvider.steps = 3


def test_follow_loop_backs_off_and_logs_once_while_the_provider_is_down(world, job):
    run = running_run(world, job)
    before = len(lines(run.record))
    world.down = True
    calls = len(world.calls)
    window = 2.0
    with pytest.raises(TimeoutError):
        for _ in run.events(after=run.record.events()[-1].seq, timeout=window):
            pass
    polls = (len(world.calls) - calls) / FakeProvider.retry_policy.attempts
    # the old loop polled without sleeping (thousands of polls, one warning each); the floor of
    # the backoff is 0.05 s (TUNESDK_POLL_INTERVAL), so at most window / 0.05 polls fit
    assert 3 <= polls <= window / 0.05
    added = lines(run.record)[before:]
    assert [e["message"] for e in added] == [
        f"poll failed: could not reach {NAME}: ConnectionError (retrying with backoff)"
    ]


def test_a_new_problem_is_logged_and_a_healed_one_again_later(world, job):
    run = running_run(world, job)
    before = len(lines(run.record))
    world.down = True
    run.refresh()
    run.refresh()
    world.down = False
    world.faults["fetch"] = ProviderError("busy", provider=NAME, status=503)
    run.refresh()
    del world.faults["fetch"]
    run.refresh()  # a good poll: the problem is over
    world.down = True
    run.refresh()
    warnings = [e["message"] for e in lines(run.record)[before:] if e.get("level") == "warning"]
    assert len(warnings) == 3 and "busy" in warnings[1]


def test_no_api_key_reaches_the_caller_as_auth_error(world, job, monkeypatch):
    run = running_run(world, job)
    before = len(lines(run.record))
    monkeypatch.delenv("FAKEPROV_API_KEY")
    attached = ts.Run.attach(run.run_id)
    with pytest.raises(AuthError, match="no API key") as caught:
        list(attached.events(timeout=5))
    assert "FAKEPROV_API_KEY" in str(caught.value)
    assert len(lines(run.record)) == before  # nothing logged, nothing changed


def test_a_refused_key_reaches_the_caller(world, job, monkeypatch):
    run = running_run(world, job)
    monkeypatch.setenv("FAKEPROV_API_KEY", "wrong")
    with pytest.raises(AuthError, match="refused"):
        ts.Run.attach(run.run_id).wait(timeout=5)


def test_deadline_holds_while_a_poll_is_retrying(world, job, monkeypatch):
    run = running_run(world, job)
    # real backoff: 1 + 2 + 4 + ... seconds between attempts of one poll
    monkeypatch.setattr(FakeProvider, "retry_policy", RetryPolicy(8, 1.0, 30.0))
    world.down = True
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        run.wait(timeout=0.5)
    assert time.monotonic() - started < 5  # the retries alone would take over a minute


def test_terminal_state_without_terminal_event_ends_the_follow_loops(world, job):
    run = running_run(world, job)
    state_path = run.record.dir / "state.json"
    state = json.loads(state_path.read_text())
    state["status"] = "completed"  # as a writer that died between its two writes leaves it
    state_path.write_text(json.dumps(state))
    assert not any(e.terminal for e in run.record.events())

    assert list(ts.Run.attach(run.run_id).events(timeout=5))
    with pytest.raises(ts.TuneError, match="no final event"):
        ts.Run.attach(run.run_id).wait(timeout=5)

    async def follow() -> list[Event]:
        return [e async for e in ts.Run.attach(run.run_id).aevents(timeout=5)]

    assert asyncio.run(follow())

    from typer.testing import CliRunner

    from tunesdk.cli import app

    result = CliRunner().invoke(app, ["logs", run.run_id, "-f"])
    assert result.exit_code == 0, result.output


# ---- credentials before data --------------------------------------------------------------------


def test_a_wrong_key_never_uploads(world, job, monkeypatch):
    monkeypatch.setenv("FAKEPROV_API_KEY", "wrong")
    with pytest.raises(AuthError):
        job.submit(NAME)
    assert world.calls == ["verify"] and not world.files


# ---- async twins ---------------------------------------------------------------------------------


async def test_async_twins_take_the_sync_arguments(world, job):
    run = await job.asubmit(NAME, resume=False)
    seen: list[Event] = []
    result = await run.await_result(timeout=10, on_event=seen.append)
    assert result.status == "completed" and isinstance(seen[-1], Completed)
    assert [e.seq async for e in run.aevents(follow=False)] == [e.seq for e in seen]
    assert [e.seq async for e in run.aevents(after=seen[-2].seq)] == [seen[-1].seq]

    FakeProvider.steps = 10**6
    other = await job.asubmit(NAME)
    with pytest.raises(TimeoutError):
        async for _ in other.aevents(timeout=0.3):
            pass
    await other.acancel(wait=False)
    assert other.status == "running"  # asked; the provider's Cancelled comes with the next poll
    await other.acancel(timeout=5)
    assert other.status == "cancelled"

    FakeProvider.steps = 3
    events: list[Event] = []
    done = await job.arun(NAME, on_event=events.append, progress=False)
    assert done.status == "completed" and isinstance(events[-1], Completed)


# ---- what the providers share ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "message", "kind"),
    [
        (401, None, "bad key", ts.AuthError),
        (None, "UNAUTHENTICATED", "bad key", ts.AuthError),
        (403, None, "denied", ts.AuthError),
        (402, None, "pay up", ts.QuotaExceeded),
        (400, "insufficient_balance", "no credit", ts.QuotaExceeded),
        (429, None, "monthly quota exceeded", ts.QuotaExceeded),  # a credit word (opted in)
        (429, None, "slow down", ts.RateLimited),
        (404, None, "model x not found", ts.ModelNotFound),
        (400, "model_not_supported", "cannot tune x", ts.ModelNotFound),
        (404, None, "job x not found", ts.InvalidRequest),
        (422, None, "bad value", ts.InvalidRequest),
        (500, None, "boom", ts.ProviderError),
        (None, None, "odd", ts.ProviderError),
    ],
)
def test_the_error_ladder(status, code, message, kind):
    error = FakeProvider().classify(status, code, message, request_id="req-1")
    assert type(error) is kind
    assert (error.status, error.code, error.message, error.request_id) == (
        status,
        code,
        message,
        "req-1",
    )
    assert error.provider == NAME and error.fix


def test_the_client_cache_never_holds_the_key():
    from tunesdk.managed import ClientCache

    cache = ClientCache()
    built: list[str] = []
    first = cache.get("sk-secret-1", ("url", 60.0), lambda: built.append("a") or object())
    assert cache.get("sk-secret-1", ("url", 60.0), lambda: object()) is first
    cache.get("sk-secret-2", ("url", 60.0), lambda: built.append("b") or object())
    assert built == ["a", "b"] and len(cache) == 2
    assert "sk-secret" not in repr(cache._clients)


def test_wait_for_and_require_provider():
    backend = FakeProvider()
    answers = iter([None, None, "ready"])
    assert backend.wait_for(lambda: next(answers), what="x", timeout_s=5, first_delay_s=0.001) == (
        "ready"
    )
    with pytest.raises(ts.ProviderError, match="still pending after 0 s"):
        backend.wait_for(lambda: None, what="still pending", timeout_s=0.05, first_delay_s=0.01)
    handle = ts.ProviderModel(provider=NAME, model_id="m", base_model="b")
    assert backend.require_provider(handle) is handle
    with pytest.raises(ts.TuneError, match="serves fakeprov models, not LocalModel"):
        backend.require_provider(ts.LocalModel(path="/x", base_model="b"))


async def test_a_cancelled_arun_cancels_the_run_without_waiting(world, job):
    FakeProvider.steps = 10**6
    task = asyncio.create_task(job.arun(NAME, progress=False))
    while not world.jobs:
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=5)
    (remote,) = world.jobs.values()
    assert remote["status"] == "cancelled"
