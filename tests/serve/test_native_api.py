"""The native API (``/tunesdk/v1``): runs CRUD, events, plan, estimate, backends, ownership and
bad jobs answered 400 naming the field — against the real app under uvicorn."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import tunesdk as ts
from tunesdk.serve.auth import owner_id
from tunesdk.testing import tiny_chat_data

KEY_A, KEY_B = "key-a-0123456789", "key-b-0123456789"
# the server process warns about dropped options too (the run's events carry them)
pytestmark = pytest.mark.filterwarnings("ignore::tunesdk.errors.UnsupportedOptionWarning")


def job(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "model": "tiny/model",
        "data": tiny_chat_data(8),
        "max_steps": 6,
        "backend_options": {"simulated": {"step_seconds": 0.01}},
    }
    return fields | overrides


@pytest.fixture(scope="module")
def served(serve_kit: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One server with two keys over a private store, default backend ``simulated``."""
    home = tmp_path_factory.mktemp("native") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TUNESDK_HOME", str(home))
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TUNESDK_POLL_INTERVAL", "0.05")
        with serve_kit.running(None, api_keys={KEY_A, KEY_B}, default_backend="simulated") as s:
            yield s


@pytest.fixture(scope="module")
def a(served: Any) -> Iterator[httpx.Client]:
    with served.http(KEY_A) as client:
        yield client


@pytest.fixture(scope="module")
def b(served: Any) -> Iterator[httpx.Client]:
    with served.http(KEY_B) as client:
        yield client


def wait_ended(client: httpx.Client, run_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/tunesdk/v1/runs/{run_id}").json()
        if body["status"] in ("completed", "failed", "cancelled"):
            return dict(body)
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not end within {timeout} s")


@pytest.fixture(scope="module")
def finished(a: httpx.Client) -> dict[str, Any]:
    """A run key A submitted through the API, completed."""
    created = a.post("/tunesdk/v1/runs", json={"job": job(weight_decay=0.05)})
    assert created.status_code == 201, created.text
    return wait_ended(a, created.json()["id"])


def fabricate(served: Any, owner_key: str, backend: str, status: str) -> str:
    """A finished run in the store, owned by ``owner_key``, without training anything."""
    from tunesdk.store import RunStore

    spec = ts.Job(model="tiny/model", data=[{"text": "hello"}] * 2)
    record = RunStore().create(spec, spec.plan("simulated"), backend)
    if status == "completed":
        record.emit(ts.Completed(model=ts.LocalModel(path="/tmp/m", base_model="tiny/model")))
    else:
        record.emit(ts.Failed(error="boom"))
    served.ctx.ownership.claim("run", record.run_id, owner_id(owner_key), time.time())
    return record.run_id


def test_a_submitted_run_reports_status_result_metrics_and_plan(
    finished: dict[str, Any], served: Any
) -> None:
    assert finished["object"] == "tunesdk.run"
    assert finished["status"] == "completed"
    assert finished["backend"] == "simulated"
    assert finished["model"] == "tiny/model"
    assert finished["objective"] == "sft" and finished["method"] == "lora"
    assert finished["metrics"]["steps"] == 6
    assert finished["result"]["model"].startswith("local:")
    assert finished["error"] is None
    rows = {row["option"]: row for row in finished["plan"]["rows"]}
    assert rows["weight_decay"]["status"] == "dropped"
    assert finished["job"]["max_steps"] == 6
    # the same run, seen through the Python API
    run = ts.Run.attach(finished["id"])
    assert run.status == "completed"
    assert finished["last_seq"] == run.record.events()[-1].seq


def test_events_as_json_page_by_seq(a: httpx.Client, finished: dict[str, Any]) -> None:
    run_id = finished["id"]
    every = a.get(f"/tunesdk/v1/runs/{run_id}/events").json()
    seqs = [event["seq"] for event in every["data"]]
    assert seqs == list(range(1, len(seqs) + 1))
    assert every["data"][-1]["type"] == "completed" and every["has_more"] is False
    # the dropped option is a warning event, as in plan
    assert any(
        e["type"] == "log" and e["level"] == "warning" and "weight_decay" in e["message"]
        for e in every["data"]
    )
    page = a.get(f"/tunesdk/v1/runs/{run_id}/events", params={"after": 2, "limit": 3}).json()
    assert [e["seq"] for e in page["data"]] == [3, 4, 5]
    assert page["has_more"] is True and page["last_seq"] == 5
    bad = a.get(f"/tunesdk/v1/runs/{run_id}/events", params={"after": "x"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "after"


def test_another_key_sees_404_everywhere(
    a: httpx.Client, b: httpx.Client, finished: dict[str, Any]
) -> None:
    run_id = finished["id"]
    for method, path in [
        ("GET", f"/tunesdk/v1/runs/{run_id}"),
        ("GET", f"/tunesdk/v1/runs/{run_id}/events"),
        ("GET", f"/tunesdk/v1/runs/{run_id}/events/stream"),
        ("POST", f"/tunesdk/v1/runs/{run_id}/cancel"),
    ]:
        answer = b.request(method, path)
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["error"]["code"] == "run_not_found"
    assert run_id not in [row["id"] for row in b.get("/tunesdk/v1/runs").json()["data"]]
    assert run_id in [row["id"] for row in a.get("/tunesdk/v1/runs").json()["data"]]
    unknown = a.get("/tunesdk/v1/runs/simulated-20990101-000000-abcdef")
    assert unknown.status_code == 404


def test_requests_without_a_valid_key_are_refused(served: Any) -> None:
    with served.http() as anonymous, served.http("wrong-key") as wrong:
        assert anonymous.get("/tunesdk/v1/runs").status_code == 401
        assert wrong.post("/tunesdk/v1/plan", json={"job": job()}).status_code == 401


def test_list_filters_by_status_and_backend_and_pages_newest_first(
    served: Any, b: httpx.Client
) -> None:
    made = [
        fabricate(served, KEY_B, backend, status)
        for backend, status in [
            ("simulated", "completed"),
            ("together", "failed"),
            ("simulated", "failed"),
            ("together", "completed"),
            ("simulated", "completed"),
        ]
    ]
    newest_first = list(reversed(made))
    listed = b.get("/tunesdk/v1/runs").json()
    assert [row["id"] for row in listed["data"]][:5] == newest_first
    assert {"status", "backend", "model", "created_at", "created"} <= set(listed["data"][0])
    first = b.get("/tunesdk/v1/runs", params={"limit": 2}).json()
    assert [row["id"] for row in first["data"]] == newest_first[:2] and first["has_more"]
    second = b.get("/tunesdk/v1/runs", params={"limit": 2, "after": first["last_id"]}).json()
    assert [row["id"] for row in second["data"]] == newest_first[2:4]
    failed = b.get("/tunesdk/v1/runs", params={"status": "failed"}).json()["data"]
    assert [row["id"] for row in failed] == [made[2], made[1]]
    together = b.get("/tunesdk/v1/runs", params={"backend": "together", "limit": 1}).json()
    assert [row["id"] for row in together["data"]] == [made[3]] and together["has_more"]
    rest = b.get(
        "/tunesdk/v1/runs", params={"backend": "together", "after": together["last_id"]}
    ).json()
    assert [row["id"] for row in rest["data"]] == [made[1]] and not rest["has_more"]
    for params, param in [({"status": "done"}, "status"), ({"limit": "0"}, "limit")]:
        answer = b.get("/tunesdk/v1/runs", params=params)
        assert answer.status_code == 400 and answer.json()["error"]["param"] == param


def test_a_filtered_page_finds_a_keys_runs_among_many_of_another_key(
    served: Any, a: httpx.Client
) -> None:
    from tunesdk.serve import native

    mine = [fabricate(served, KEY_A, "openai", "failed") for _ in range(3)]
    theirs = [fabricate(served, KEY_B, "openai", "failed") for _ in range(native.WINDOW_MIN + 8)]
    first = a.get("/tunesdk/v1/runs", params={"backend": "openai", "limit": 2}).json()
    assert [row["id"] for row in first["data"]] == [mine[2], mine[1]] and first["has_more"]
    rest = a.get(
        "/tunesdk/v1/runs", params={"backend": "openai", "limit": 2, "after": first["last_id"]}
    ).json()
    assert [row["id"] for row in rest["data"]] == [mine[0]] and not rest["has_more"]
    foreign = a.get("/tunesdk/v1/runs", params={"backend": "openai", "after": theirs[0]})
    assert foreign.status_code == 400 and foreign.json()["error"]["param"] == "after"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"job": job(learning_rate=-1)}, "job.learning_rate"),
        ({"job": job(lr=1e-4)}, "job.lr"),
        ({"job": job(method={"kind": "lora", "r": 0})}, "job.method.r"),
        ({"job": {"data": tiny_chat_data(4)}}, "job.model"),
        ({"job": "model: x"}, "job"),
        ({"job": job(), "backend": "no-such-backend"}, "backend"),
        ({"job": job(data="/etc/passwd")}, "job.data"),
        ({"job": job(data={"/etc/passwd": 1.0})}, "job.data"),
        ({"job": job(eval_data="../eval.jsonl")}, "job.eval_data"),
        ({"job": job(output_dir="/tmp/out")}, "job.output_dir"),
        ({"job": job(model="/srv/models/base")}, "job.model"),
        ({"job": job(model={"name": "x/y", "ids": {"simulated": "~/m"}})}, "job.model"),
        ({"job": job(data="file-0123456789abcdef01234567")}, "job.data"),
    ],
)
def test_a_bad_job_is_a_400_naming_the_field(
    a: httpx.Client, served: Any, body: dict[str, Any], param: str
) -> None:
    before = len(served.ctx.store.query().runs)
    for path in ("/tunesdk/v1/runs", "/tunesdk/v1/plan"):
        answer = a.post(path, json=body)
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error["param"] == param, error
        assert error["type"] == "invalid_request_error" and error["message"]
    assert len(served.ctx.store.query().runs) == before  # nothing was submitted


def test_bodies_that_are_not_json_objects_are_400(a: httpx.Client) -> None:
    for content in (b"not json", b"[1, 2]"):
        answer = a.post("/tunesdk/v1/runs", content=content)
        assert answer.status_code == 400 and "JSON" in answer.json()["error"]["message"]


def test_plan_is_pure_and_shows_every_option(a: httpx.Client, served: Any) -> None:
    before = len(served.ctx.store.query().runs)
    plan = a.post("/tunesdk/v1/plan", json={"job": job(weight_decay=0.05)}).json()
    assert plan["object"] == "tunesdk.plan" and plan["backend"] == "simulated"
    assert plan["native"]["total_steps"] == 6
    assert json.loads(plan["native_text"]) == plan["native"]
    rows = {row["option"]: row for row in plan["rows"]}
    assert rows["weight_decay"]["status"] == "dropped" and rows["weight_decay"]["user_set"]
    assert any("weight_decay" in warning for warning in plan["warnings"])
    assert len(served.ctx.store.query().runs) == before


def test_estimate_counts_tokens_and_costs(a: httpx.Client) -> None:
    answer = a.post("/tunesdk/v1/estimate", json={"job": job(), "params": "7B"})
    assert answer.status_code == 200, answer.text
    estimate = answer.json()
    assert estimate["object"] == "tunesdk.estimate" and estimate["is_estimate"] is True
    assert estimate["tokens"]["training_tokens"] > 0
    assert estimate["costs"] and estimate["memory"]
    bad = a.post("/tunesdk/v1/estimate", json={"job": job(), "params": "huge"})
    assert bad.status_code == 400


def test_backends_say_usable_or_the_fix(a: httpx.Client) -> None:
    listed = a.get("/tunesdk/v1/backends").json()
    by_name = {row["name"]: row for row in listed["data"]}
    assert by_name["simulated"]["usable"] is True
    assert listed["default"] == "simulated"
    unusable = [row for row in listed["data"] if not row["usable"]]
    assert all(row["fix"] or row["reason"] for row in unusable)


def test_an_uploaded_file_is_training_data(served: Any, a: httpx.Client, tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in tiny_chat_data(8)))
    uploaded = served.openai(KEY_A).files.create(file=path.open("rb"), purpose="fine-tune")
    plan = a.post("/tunesdk/v1/plan", json={"job": job(data=uploaded.id)})
    assert plan.status_code == 200, plan.text
    # another key cannot train on it
    with served.http(KEY_B) as other:
        refused = other.post("/tunesdk/v1/plan", json={"job": job(data=uploaded.id)})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "job.data"


def test_cancel_stops_a_live_run_and_a_second_cancel_is_409(a: httpx.Client) -> None:
    long = job(max_steps=400, backend_options={"simulated": {"step_seconds": 0.05}})
    run_id = a.post("/tunesdk/v1/runs", json={"job": long}).json()["id"]
    deadline = time.monotonic() + 30
    while a.get(f"/tunesdk/v1/runs/{run_id}/events").json()["last_seq"] < 4:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    answer = a.post(f"/tunesdk/v1/runs/{run_id}/cancel")
    assert answer.status_code == 200 and answer.json()["cancel_requested"] is True
    assert wait_ended(a, run_id)["status"] == "cancelled"
    again = a.post(f"/tunesdk/v1/runs/{run_id}/cancel")
    assert again.status_code == 409 and again.json()["error"]["code"] == "run_ended"


def test_delete_removes_an_ended_run_and_refuses_a_live_one(
    served: Any, a: httpx.Client, b: httpx.Client
) -> None:
    ended = fabricate(served, KEY_A, "simulated", "failed")
    assert b.delete(f"/tunesdk/v1/runs/{ended}").status_code == 404  # not B's
    answer = a.delete(f"/tunesdk/v1/runs/{ended}")
    assert answer.status_code == 200 and answer.json() == {
        "object": "tunesdk.run.deleted",
        "id": ended,
        "deleted": True,
    }
    assert a.get(f"/tunesdk/v1/runs/{ended}").status_code == 404
    assert not (served.ctx.store.runs_dir / ended).exists()
    from tunesdk.store import RunStore

    spec = ts.Job(model="tiny/model", data=[{"text": "hi"}] * 2)
    live = RunStore().create(spec, spec.plan("simulated"), "serve_nobody")  # no backend polls it
    live.emit(ts.StatusChanged(status="running"))
    served.ctx.ownership.claim("run", live.run_id, owner_id(KEY_A), time.time())
    refused = a.delete(f"/tunesdk/v1/runs/{live.run_id}")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "run_not_ended"
    assert live.dir.exists()


def test_without_keys_the_local_user_sees_every_run_and_may_name_paths(
    start_server: Any, tmp_path: Path
) -> None:
    server = start_server(default_backend="simulated")
    spec = ts.Job(model="tiny/model", data=[{"text": "hi"}] * 2)
    from tunesdk.store import RunStore

    record = RunStore().create(spec, spec.plan("simulated"), "simulated")  # e.g. `tunesdk run`
    record.emit(ts.Failed(error="boom"))
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in tiny_chat_data(8)))
    with server.http() as client:
        listed = client.get("/tunesdk/v1/runs").json()["data"]
        assert [row["id"] for row in listed] == [record.run_id]
        assert client.get(f"/tunesdk/v1/runs/{record.run_id}").json()["error"] == "boom"
        plan = client.post("/tunesdk/v1/plan", json={"job": job(data=str(data))})
        assert plan.status_code == 200, plan.text


def test_a_damaged_run_is_listed_and_shown_damaged_not_a_500(start_server: Any) -> None:
    server = start_server(default_backend="simulated")
    from tunesdk.store import RunStore

    spec = ts.Job(model="tiny/model", data=[{"text": "hi"}] * 2)
    record = RunStore().create(spec, spec.plan("simulated"), "simulated")
    record.emit(ts.StatusChanged(status="running"))
    (record.dir / "state.json").write_text("{not json")
    with server.http() as client:
        listed = client.get("/tunesdk/v1/runs").json()["data"]
        assert [(row["id"], row["status"]) for row in listed] == [(record.run_id, "damaged")]
        shown = client.get(f"/tunesdk/v1/runs/{record.run_id}")
        assert shown.status_code == 200 and shown.json()["status"] == "damaged"
        assert "state.json" in shown.json()["problem"]
        events = client.get(f"/tunesdk/v1/runs/{record.run_id}/events").json()
        assert events["status"] == "damaged" and [e["seq"] for e in events["data"]] == [1]
        cancel = client.post(f"/tunesdk/v1/runs/{record.run_id}/cancel")
        assert cancel.status_code == 409 and cancel.json()["error"]["code"] == "run_damaged"
        stream = client.get(f"/tunesdk/v1/runs/{record.run_id}/events/stream")
        assert stream.status_code == 200 and "id: 1" in stream.text


def test_bad_data_is_a_400_naming_the_data_before_anything_runs(
    a: httpx.Client, served: Any
) -> None:
    before = len(served.ctx.store.query().runs)
    for data in ([{"messages": "not a conversation"}] * 4, []):
        answer = a.post("/tunesdk/v1/runs", json={"job": job(data=data)})
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error["param"] == "job.data" and error["code"] == "invalid_data", error
    assert len(served.ctx.store.query().runs) == before
