"""The SSE event streams: every event once across reconnects (``Last-Event-ID``), keep-alives,
the end of a run, the OpenAI shape, and clients that never poll a backend themselves."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx
import pytest

import tunesdk as ts
from tunesdk.backend import Backend
from tunesdk.events import Event
from tunesdk.registry import register_backend
from tunesdk.serve.auth import LOCAL_OWNER
from tunesdk.store import RunRecord, RunStore
from tunesdk.testing import tiny_chat_data

pytestmark = pytest.mark.filterwarnings("ignore::tunesdk.errors.UnsupportedOptionWarning")


class QuietBackend(Backend):
    """A provider that never reports anything; records which thread polled it."""

    name = "serve_quiet"
    kind = "managed"
    pollers: ClassVar[list[str]] = []

    def poll(self, run: RunRecord) -> list[Event]:
        self.pollers.append(threading.current_thread().name)
        return []


@dataclass
class Frame:
    id: int | None = None
    event: str | None = None
    data: Any = None
    comments: list[str] = field(default_factory=list)


def frames(response: httpx.Response) -> Iterator[Frame]:
    """Parse ``text/event-stream`` as a browser does (one frame per blank line)."""
    current = Frame()
    for line in response.iter_lines():
        if line == "":
            if current.data is not None or current.event is not None or current.comments:
                yield current
            current = Frame()
        elif line.startswith(":"):
            current.comments.append(line[1:].strip())
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "id":
                current.id = int(value)
            elif name == "data":
                current.data = json.loads(value)
            elif name == "event":
                current.event = value


@pytest.fixture(scope="module")
def served(serve_kit: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    home = tmp_path_factory.mktemp("sse") / "home"
    register_backend("serve_quiet", QuietBackend)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TUNESDK_HOME", str(home))
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TUNESDK_POLL_INTERVAL", "0.05")
        with serve_kit.running(None, default_backend="simulated") as server:
            yield server


@pytest.fixture(scope="module")
def client(served: Any) -> Iterator[httpx.Client]:
    with served.http() as c:
        yield c


def quiet_run(served: Any) -> RunRecord:
    """A running run of the quiet provider, owned by the local user and followed by the server."""
    spec = ts.Job(model="tiny/model", data=[{"text": "hi"}] * 2)
    record = RunStore().create(spec, spec.plan("simulated"), "serve_quiet")
    record.emit(ts.StatusChanged(status="running"))
    served.ctx.claim_run(LOCAL_OWNER, record.run_id)
    return record


def stream_url(run_id: str) -> str:
    return f"/tunesdk/v1/runs/{run_id}/events/stream"


def test_every_event_arrives_once_across_a_reconnect_with_last_event_id(
    client: httpx.Client,
) -> None:
    spec = {
        "model": "tiny/model",
        "data": tiny_chat_data(8),
        "max_steps": 40,
        "eval_split": 0.25,
        "eval_steps": 10,
        "backend_options": {"simulated": {"step_seconds": 0.04}},
    }
    run_id = client.post("/tunesdk/v1/runs", json={"job": spec}).json()["id"]
    seen: list[Frame] = []
    with client.stream("GET", stream_url(run_id)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for frame in frames(response):
            if frame.data is not None:
                seen.append(frame)
            if len([f for f in seen if f.data.get("type") == "progress"]) >= 5:
                break  # drop the connection mid-run
    assert not any(f.data.get("type") == "completed" for f in seen)
    cut = seen[-1].id
    ended = False
    with client.stream(
        "GET", stream_url(run_id), headers={"Last-Event-ID": str(cut)}, params={"after": 0}
    ) as response:
        for frame in frames(response):
            if frame.event == "end":
                ended = True
            elif frame.data is not None:
                seen.append(frame)
    assert ended
    log = RunStore().get(run_id).events()
    assert [f.id for f in seen] == [e.seq for e in log] == list(range(1, len(log) + 1))
    assert [f.data for f in seen] == [json.loads(e.to_json()) for e in log]
    assert log[-1].type == "completed"
    # a reconnect after the end: 204 tells EventSource to stop reconnecting
    again = client.get(stream_url(run_id), headers={"Last-Event-ID": str(log[-1].seq)})
    assert again.status_code == 204
    # from the start (or after=N) a finished run streams its whole log, then ends
    with client.stream("GET", stream_url(run_id), params={"after": len(log) - 2}) as response:
        tail = [f for f in frames(response) if f.data is not None and f.event is None]
    assert [f.id for f in tail] == [len(log) - 1, len(log)]
    # the plain events URL streams too, for a client that asks for an event stream
    accept = {"Accept": "text/event-stream"}
    with client.stream(
        "GET", f"/tunesdk/v1/runs/{run_id}/events", headers=accept, params={"after": 3}
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert [f.id for f in frames(response) if f.id is not None] == list(range(4, len(log) + 1))


def test_a_quiet_stream_keeps_alive_then_delivers_live_events_and_ends(
    served: Any, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tunesdk.serve import sse

    monkeypatch.setattr(sse, "KEEPALIVE_S", 0.2)
    record = quiet_run(served)
    got: list[Frame] = []
    with client.stream("GET", stream_url(record.run_id), params={"after": 1}) as response:
        for frame in frames(response):
            got.append(frame)
            if "keep-alive" in frame.comments and len(got) < 10:
                record.emit(ts.Log(message="still here"))
                record.emit(ts.Completed(model=ts.LocalModel(path="/m", base_model="tiny/model")))
    events = [f for f in got if f.data is not None and f.event is None]
    assert [f.data["type"] for f in events] == ["log", "completed"]
    assert [f.id for f in events] == [2, 3]
    assert got[-1].event == "end"
    assert any("keep-alive" in f.comments for f in got)


def test_watching_clients_never_poll_the_backend(served: Any, client: httpx.Client) -> None:
    record = quiet_run(served)
    QuietBackend.pollers.clear()
    done = threading.Event()

    def watch() -> None:
        with served.http() as own, own.stream("GET", stream_url(record.run_id)) as response:
            for frame in frames(response):
                if frame.event == "end":
                    done.set()

    watchers = [threading.Thread(target=watch) for _ in range(5)]
    for thread in watchers:
        thread.start()
    time.sleep(0.8)
    record.emit(ts.Cancelled())
    for thread in watchers:
        thread.join(timeout=10)
    assert done.is_set()
    assert QuietBackend.pollers, "the supervisor should have polled"
    assert set(QuietBackend.pollers) == {f"tunesdk-serve-{record.run_id}"}


def test_a_garbage_line_is_skipped_and_the_stream_goes_on(
    served: Any, client: httpx.Client
) -> None:
    record = quiet_run(served)
    with open(record.events_path, "ab") as log:
        log.write(b"this is not an event\n")
    record.emit(ts.Failed(error="boom"))
    with client.stream("GET", stream_url(record.run_id)) as response:
        ids = [f.id for f in frames(response) if f.id is not None]
    assert ids == [1, 2]


def test_bad_resume_points_are_400_and_unknown_runs_404(served: Any, client: httpx.Client) -> None:
    assert client.get(stream_url("simulated-20990101-000000-abcdef")).status_code == 404
    assert client.get(stream_url("../../etc")).status_code == 404
    record = quiet_run(served)
    record.emit(ts.Cancelled())
    for headers, params, param in [
        ({"Last-Event-ID": "x"}, {}, "Last-Event-ID"),
        ({}, {"after": "-3"}, "after"),
    ]:
        answer = client.get(stream_url(record.run_id), headers=headers, params=params)
        assert answer.status_code == 400
        assert answer.json()["error"]["param"] == param


def test_the_openai_stream_speaks_fine_tuning_job_events(served: Any, client: httpx.Client) -> None:
    record = quiet_run(served)
    record.emit(ts.Progress(step=1, total_steps=2, train_loss=1.5))
    record.emit(ts.Log(message="careful", level="warning"))
    record.emit(ts.Completed(model=ts.LocalModel(path="/m", base_model="tiny/model")))
    url = f"/v1/fine_tuning/jobs/{record.run_id}/events/stream"
    with client.stream("GET", url, headers={"Last-Event-ID": "1"}) as response:
        got = [f for f in frames(response) if f.data is not None and f.event is None]
    assert [f.id for f in got] == [2, 3, 4]
    progress, warning, completed = (f.data for f in got)
    assert progress["object"] == "fine_tuning.job.event"
    assert progress["type"] == "metrics" and progress["data"]["train_loss"] == 1.5
    assert warning["level"] == "warn" and warning["message"] == "careful"
    assert completed["data"]["fine_tuned_model"].startswith("local:")
    listed = served.openai().fine_tuning.jobs.list_events(record.run_id).data
    assert {e.id for e in listed} >= {f.data["id"] for f in got}
    with served.http() as other:
        assert other.get("/v1/fine_tuning/jobs/ftjob-nope/events/stream").status_code == 404
