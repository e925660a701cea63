"""The server's `Supervisor`: after a restart it follows again every unfinished run it owns, one
run's errors never stop the others, shutdown is prompt, and it never polls a run at the same time
as a client's own ``Run.events()`` (the run's poll lease)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

import tunesdk as ts
from tunesdk.backend import Backend
from tunesdk.errors import AuthError
from tunesdk.events import Event
from tunesdk.local import LocalBackend
from tunesdk.registry import register_backend
from tunesdk.serve import supervisor as supervisor_module
from tunesdk.serve.config import ServeConfig
from tunesdk.serve.context import ServeContext
from tunesdk.serve.supervisor import Supervisor
from tunesdk.store import RunRecord


class SteppingBackend(Backend):
    """A provider whose job advances one step per poll; ``state["mode"]`` injects trouble.

    Counts polls running at once (each poll takes a little while, as an HTTP call does)."""

    name = "serve_stepping"
    kind = "managed"
    active: ClassVar[int] = 0
    most_at_once: ClassVar[int] = 0
    polls: ClassVar[dict[str, int]] = {}
    lock = threading.Lock()

    def poll(self, run: RunRecord) -> list[Event]:
        cls = type(self)
        with cls.lock:
            cls.active += 1
            cls.most_at_once = max(cls.most_at_once, cls.active)
            cls.polls[run.run_id] = cls.polls.get(run.run_id, 0) + 1
        try:
            time.sleep(0.02)
            state = run.state
            mode = state.get("mode", "ok")
            if mode == "auth":
                raise AuthError("the provider refused the key", provider="stepping")
            if mode == "bug":
                raise RuntimeError("a bug with a secret in its text: sk-secret-123")
            step = int(state.get("step", 0)) + 1
            run.update_state(step=step)
            if step > int(state.get("steps", 5)):
                model = ts.ProviderModel(provider="stepping", model_id="m")
                return [ts.Completed(model=model, source_id="done")]
            return [ts.Progress(step=step, total_steps=state.get("steps", 5), source_id=f"s{step}")]
        finally:
            with cls.lock:
                cls.active -= 1


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ServeContext:
    home = tmp_path / "home"
    monkeypatch.setenv("TUNESDK_HOME", str(home))
    monkeypatch.setenv("TUNESDK_POLL_INTERVAL", "0.01")
    register_backend("serve_stepping", SteppingBackend)
    SteppingBackend.active = SteppingBackend.most_at_once = 0
    SteppingBackend.polls = {}
    return ServeContext(ServeConfig(home=home))


@pytest.fixture
def supervisor(ctx: ServeContext) -> Iterator[Supervisor]:
    sup = Supervisor(ctx)
    ctx.supervisor = sup
    yield sup
    sup.stop()


def make_run(ctx: ServeContext, *, owned: bool = True, **state: Any) -> RunRecord:
    spec = ts.Job(model="tiny/model", data=[{"text": "hi"}] * 2)
    record = ctx.store.create(spec, spec.plan("simulated"), "serve_stepping")
    record.update_state(**state)
    record.emit(ts.StatusChanged(status="running"))
    if owned:
        ctx.ownership.claim("run", record.run_id, "local", time.time())
    return record


def wait_for(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def whole(record: RunRecord) -> list[Event]:
    """The run's log, checked: seq 1..n without gaps, one terminal event, at the end."""
    events = record.events()
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.terminal for e in events].count(True) == 1 and events[-1].terminal
    return events


def test_start_follows_every_unfinished_run_it_owns_and_nothing_else(
    ctx: ServeContext, supervisor: Supervisor
) -> None:
    live = [make_run(ctx, steps=3) for _ in range(3)]
    ended = make_run(ctx)
    ended.emit(ts.Failed(error="old"))
    foreign = make_run(ctx, owned=False)  # e.g. `tunesdk run` in another terminal
    assert sorted(supervisor.start()) == sorted(r.run_id for r in live)
    wait_for(lambda: all(r.terminal for r in live))
    for record in live:
        steps = [e.step for e in whole(record) if isinstance(e, ts.Progress)]
        assert steps == [1, 2, 3]
    assert foreign.status == "running" and foreign.run_id not in SteppingBackend.polls
    assert ended.run_id not in SteppingBackend.polls


def test_one_runs_trouble_never_stops_the_others(
    ctx: ServeContext, supervisor: Supervisor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(supervisor_module, "STUCK_RETRY_S", 0.02)
    refused = make_run(ctx, mode="auth")
    buggy = make_run(ctx, mode="bug")
    fine = make_run(ctx, steps=4)
    supervisor.start()
    wait_for(lambda: fine.terminal and fine.run_id not in supervisor.following())
    wait_for(lambda: SteppingBackend.polls.get(refused.run_id, 0) >= 4)
    wait_for(lambda: SteppingBackend.polls.get(buggy.run_id, 0) >= 4)
    assert set(supervisor.following()) == {refused.run_id, buggy.run_id}  # still tried
    for record, says in [(refused, "refused the key"), (buggy, "internal error RuntimeError")]:
        warnings = [e for e in record.events() if isinstance(e, ts.Log) and e.level == "warning"]
        assert len(warnings) == 1, warnings  # once, however often it was tried
        assert says in warnings[0].message
        assert "sk-secret" not in record.events_path.read_text()
    whole(fine)
    # the trouble clears: the run goes on and completes
    buggy.update_state(mode="ok", steps=2)
    wait_for(lambda: buggy.terminal)
    assert buggy.status == "completed"


def test_stop_is_prompt_even_while_runs_wait_long_between_polls(
    ctx: ServeContext, supervisor: Supervisor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUNESDK_POLL_INTERVAL", "60")
    runs = [make_run(ctx, steps=1000) for _ in range(3)]
    supervisor.start()
    wait_for(lambda: all(SteppingBackend.polls.get(r.run_id) for r in runs))
    began = time.monotonic()
    supervisor.stop()
    assert time.monotonic() - began < 1.0
    assert supervisor.following() == []
    assert all(r.status == "running" for r in runs)  # the runs themselves go on elsewhere
    supervisor.watch(runs[0].run_id)  # a stopped supervisor starts nothing new
    assert supervisor.following() == []


def test_a_client_following_the_same_run_never_polls_at_the_same_time(
    ctx: ServeContext, supervisor: Supervisor
) -> None:
    record = make_run(ctx, steps=40)
    supervisor.watch(record.run_id)
    client = ts.Run.attach(record.run_id)  # as a client process would, after `tunesdk logs -f`
    events = list(client.events(timeout=30))
    assert events[-1].terminal
    assert SteppingBackend.most_at_once == 1
    steps = [e.step for e in whole(record) if isinstance(e, ts.Progress)]
    assert steps == list(range(1, 41))  # no step twice, none lost


def test_a_run_whose_backend_is_gone_says_so_once(
    ctx: ServeContext, supervisor: Supervisor
) -> None:
    spec = ts.Job(model="tiny/model", data=[{"text": "hi"}] * 2)
    record = ctx.store.create(spec, spec.plan("simulated"), "serve_uninstalled")
    record.emit(ts.StatusChanged(status="running"))
    supervisor.watch(record.run_id)
    wait_for(lambda: record.run_id not in supervisor.following())
    supervisor.watch(record.run_id)  # a later look (a client streaming it) says nothing new
    wait_for(lambda: record.run_id not in supervisor.following())
    notes = [e for e in record.events() if isinstance(e, ts.Log) and e.level == "warning"]
    assert len(notes) == 1 and "serve_uninstalled" in notes[0].message


class StubbornBackend(LocalBackend):
    """A local backend whose worker ignores SIGTERM (a training loop stuck in a kernel)."""

    name = "serve_stubborn"
    cancel_grace_s = 0.3

    def worker_command(self, run: RunRecord) -> list[str]:
        code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
        return [sys.executable, "-c", code]


def test_a_worker_that_overruns_its_cancel_grace_is_killed_and_the_run_cancelled(
    ctx: ServeContext, supervisor: Supervisor
) -> None:
    register_backend("serve_stubborn", StubbornBackend)
    spec = ts.Job(model="tiny/model", data=[{"text": "hi"}] * 2)
    record = ctx.store.create(spec, spec.plan("simulated"), "serve_stubborn")
    backend = StubbornBackend()
    backend.launch(record)
    record.emit(ts.Progress(step=1))  # it has trained: cancel asks it to save and stop
    pid = int(record.state["worker_pid"])
    try:
        supervisor.cancel(record.run_id)
        wait_for(lambda: record.terminal, timeout=15)
        assert record.status == "cancelled"
        wait_for(lambda: not backend.worker_alive(record), timeout=5)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    whole(record)


def test_a_cancel_through_the_openai_api_kills_a_worker_that_overruns_its_grace(
    start_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``fine_tuning.jobs.cancel`` takes the native API's path: the grace is enforced there too."""
    monkeypatch.setenv("TUNESDK_POLL_INTERVAL", "0.01")
    register_backend("serve_stubborn", StubbornBackend)
    server = start_server()
    ctx = server.ctx
    spec = ts.Job(model="tiny/model", data=[{"text": "hi"}] * 2)
    record = ctx.store.create(spec, spec.plan("simulated"), "serve_stubborn")
    backend = StubbornBackend()
    backend.launch(record)
    record.emit(ts.Progress(step=1))
    ctx.claim_run("local", record.run_id)
    pid = int(record.state["worker_pid"])
    try:
        job = server.openai().fine_tuning.jobs.cancel(record.run_id)
        assert job.id == record.run_id
        wait_for(lambda: record.terminal, timeout=15)
        assert record.status == "cancelled"
        wait_for(lambda: not backend.worker_alive(record), timeout=5)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    whole(record)
