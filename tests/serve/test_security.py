"""``tunesdk serve`` against a hostile client: each test is an attack that once worked.

- a web page in the user's browser reaching a keyless loopback server (DNS rebinding through the
  Host header; a cross-site "simple" POST carrying an Origin)
- a key holder pointing the server's provider key at a host of its own (``backend_options``), or
  the job at a cluster (``launcher_options``), through the native API
- a Python grader in a native job's ``rewards`` (code run on the server)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tunesdk.testing import tiny_chat_data

KEY = "key-sec-0123456789"
pytestmark = pytest.mark.filterwarnings("ignore::tunesdk.errors.UnsupportedOptionWarning")


def job(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"model": "tiny/model", "data": tiny_chat_data(4), "max_steps": 2}
    return fields | overrides


@pytest.fixture(scope="module")
def servers(serve_kit: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """(a keyless loopback server, a server with one key), both default backend ``simulated``."""
    home = tmp_path_factory.mktemp("security") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TUNESDK_HOME", str(home))
        mp.setenv("HF_HUB_OFFLINE", "1")
        with (
            serve_kit.running(None, default_backend="simulated") as open_server,
            serve_kit.running(None, api_keys={KEY}, default_backend="simulated") as keyed,
        ):
            yield open_server, keyed


@pytest.fixture(scope="module")
def local(servers: Any) -> Iterator[httpx.Client]:
    with servers[0].http() as client:
        yield client


@pytest.fixture(scope="module")
def keyed(servers: Any) -> Iterator[httpx.Client]:
    with servers[1].http(KEY) as client:
        yield client


# ---- a web page against a keyless loopback server ---------------------------------------------


def test_a_rebound_host_name_is_refused(local: httpx.Client, servers: Any) -> None:
    # DNS rebinding: the page's own name now resolves to 127.0.0.1, the browser sends its Host
    port = servers[0].port
    answer = local.get("/tunesdk/v1/runs", headers={"Host": f"evil.example:{port}"})
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "host_not_allowed"
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost"):
        assert local.get("/tunesdk/v1/runs", headers={"Host": host}).status_code == 200


def test_a_cross_site_post_is_refused(local: httpx.Client) -> None:
    # a <form>/fetch "simple" request: text/plain, no preflight, the browser adds Origin
    body = json.dumps({"job": job()})
    for origin in ("http://evil.example", "null", "http://127.0.0.1:1"):
        answer = local.post(
            "/tunesdk/v1/plan",
            content=body,
            headers={"Origin": origin, "Content-Type": "text/plain"},
        )
        assert answer.status_code == 403, origin
        assert answer.json()["error"]["code"] == "cross_site_request"
    assert local.get("/tunesdk/v1/runs").status_code == 200  # the CLI/SDK send no Origin


def test_the_dashboard_own_origin_passes(local: httpx.Client, servers: Any) -> None:
    own = servers[0].base_url
    answer = local.post("/tunesdk/v1/plan", json={"job": job()}, headers={"Origin": own})
    assert answer.status_code == 200, answer.text


def test_a_keyed_server_takes_any_host_behind_a_proxy(keyed: httpx.Client) -> None:
    answer = keyed.get("/tunesdk/v1/runs", headers={"Host": "tune.example.com"})
    assert answer.status_code == 200


# ---- a key holder aiming the server's keys elsewhere -----------------------------------------


@pytest.mark.parametrize(
    ("options", "param"),
    [
        ({"openai": {"base_url": "http://attacker.example/v1"}}, "openai.base_url"),
        ({"together": {"api_key": "x"}}, "together.api_key"),
        ({"tinker": {"base_url": "http://attacker.example"}}, "tinker.base_url"),
        ({"openai": {"azure_endpoint": "https://attacker.example"}}, "openai.azure_endpoint"),
    ],
)
def test_backend_options_cannot_redirect_the_provider_key(
    keyed: httpx.Client, options: dict[str, Any], param: str
) -> None:
    answer = keyed.post("/tunesdk/v1/plan", json={"job": job(backend_options=options)})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == f"job.backend_options.{param}"
    assert "attacker" not in answer.text or "base_url" in answer.text


def test_launcher_options_are_refused(keyed: httpx.Client) -> None:
    options = {"ray": {"address": "ray://attacker.example:10001"}}
    answer = keyed.post("/tunesdk/v1/plan", json={"job": job(launcher_options=options)})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == "job.launcher_options"


def test_training_options_still_pass(keyed: httpx.Client) -> None:
    options = {"simulated": {"step_seconds": 0.01}}
    answer = keyed.post("/tunesdk/v1/plan", json={"job": job(backend_options=options)})
    assert answer.status_code == 200, answer.text


def test_a_python_grader_in_native_rewards_is_refused(keyed: httpx.Client) -> None:
    grader = {"type": "python", "name": "g", "source": "import os\ndef grade(s, i): return 1.0"}
    nested = {"type": "multi", "name": "m", "graders": {"p": grader}, "calculate_output": "p"}
    for reward in (grader, nested):
        body = {"job": job(objective="grpo", rewards=[reward])}
        answer = keyed.post("/tunesdk/v1/plan", json=body)
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["code"] == "invalid_grader"


# ---- server paths and internals in answers ---------------------------------------------------


def _upload(client: httpx.Client, rows: list[Any]) -> str:
    content = "\n".join(json.dumps(row) for row in rows).encode()
    answer = client.post(
        "/v1/files", files={"file": ("d.jsonl", content)}, data={"purpose": "fine-tune"}
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id"])


def test_a_bad_uploaded_file_is_named_by_its_id_not_its_server_path(
    keyed: httpx.Client, servers: Any
) -> None:
    file_id = _upload(keyed, [{"messages": 3}])
    answer = keyed.post("/tunesdk/v1/runs", json={"job": job(data=file_id)})
    assert answer.status_code == 400, answer.text
    message = answer.json()["error"]["message"]
    assert file_id in message
    assert str(servers[1].ctx.files_dir) not in message


def test_event_streams_name_uploaded_files_by_id(keyed: httpx.Client, servers: Any) -> None:
    row = tiny_chat_data(1)[0]
    file_id = _upload(keyed, [row, row, *tiny_chat_data(3)])  # the duplicate: a logged warning
    options = {"simulated": {"step_seconds": 0.01}}
    created = keyed.post(
        "/tunesdk/v1/runs", json={"job": job(data=file_id, backend_options=options)}
    )
    assert created.status_code == 201, created.text
    run_id = created.json()["id"]
    serve_dir = str(servers[1].ctx.files_dir.parent)
    for path in (
        f"/tunesdk/v1/runs/{run_id}/events/stream",
        f"/v1/fine_tuning/jobs/{run_id}/events/stream",
    ):
        with keyed.stream("GET", path) as stream:
            text = b"".join(stream.iter_bytes()).decode()
        assert serve_dir not in text, path
        assert file_id in text, path  # the warning about the duplicate names the file


def test_deeply_nested_json_is_a_400(keyed: httpx.Client) -> None:
    answer = keyed.post("/tunesdk/v1/plan", content=b"[" * 100_000)
    assert answer.status_code == 400
    assert "nested too deeply" in answer.json()["error"]["message"]


def test_chat_max_tokens_is_bounded(keyed: httpx.Client) -> None:
    from tunesdk.serve.openai_chat import MAX_NEW_TOKENS

    messages = [{"role": "user", "content": "hi"}]
    for param in ("max_tokens", "max_completion_tokens"):
        body = {"model": "nope", "messages": messages, param: 10**12}
        answer = keyed.post("/v1/chat/completions", json=body)
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["param"] == param
        assert str(MAX_NEW_TOKENS) in answer.json()["error"]["message"]


def test_one_key_cannot_hold_unbounded_event_streams(
    keyed: httpx.Client, servers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    monkeypatch.setattr("tunesdk.serve.stream_limit.MAX_STREAMS_PER_KEY", 2)
    options = {"simulated": {"step_seconds": 0.05}}
    created = keyed.post(
        "/tunesdk/v1/runs", json={"job": job(max_steps=400, backend_options=options)}
    )
    assert created.status_code == 201, created.text
    run_id = created.json()["id"]
    path = f"/tunesdk/v1/runs/{run_id}/events/stream"
    try:
        with httpx.Client(base_url=servers[1].base_url, timeout=30) as other:
            opened = [
                keyed.stream("GET", path),
                other.stream("GET", path, headers={"Authorization": f"Bearer {KEY}"}),
            ]
            # keep the byte iterators: a dropped one closes its response
            chunks = [manager.__enter__().iter_bytes() for manager in opened]
            for chunk in chunks:
                next(chunk)  # streaming: counted
            third = keyed.get(f"/v1/fine_tuning/jobs/{run_id}/events/stream")
            assert third.status_code == 429, third.text
            assert third.json()["error"]["code"] == "too_many_streams"
            opened[0].__exit__(None, None, None)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # the server notices the client left
                with keyed.stream("GET", path) as again:
                    if again.status_code == 200:
                        break
                time.sleep(0.1)
            assert again.status_code == 200
            opened[1].__exit__(None, None, None)
    finally:
        keyed.post(f"/tunesdk/v1/runs/{run_id}/cancel")


def test_a_plan_does_not_show_where_the_servers_python_lives(keyed: httpx.Client) -> None:
    import sys

    answer = keyed.post("/tunesdk/v1/plan", json={"job": job(), "backend": "trl"})
    assert answer.status_code == 200, answer.text
    assert "tunesdk.worker" in answer.text  # the launch command is there, as python -m ...
    assert sys.executable not in answer.text


def test_engine_config_in_backend_options_is_refused(keyed: httpx.Client) -> None:
    # passed through to the engine unchanged: remote code from the hub, plugins, paths
    for options in (
        {"axolotl": {"trust_remote_code": True}},
        {"axolotl": {"plugins": ["attacker.plugin"]}},
        {"trl": {"accelerate": {"main_process_ip": "10.0.0.9"}}},
    ):
        answer = keyed.post("/tunesdk/v1/plan", json={"job": job(backend_options=options)})
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["param"] == f"job.backend_options.{next(iter(options))}"


def test_allow_backend_options_still_refuses_connection_options(
    serve_kit: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUNESDK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with (
        serve_kit.running(
            None, api_keys={KEY}, default_backend="simulated", allow_backend_options=True
        ) as server,
        server.http(KEY) as client,
    ):
        engine = {"axolotl": {"trust_remote_code": True}}
        answer = client.post("/tunesdk/v1/plan", json={"job": job(backend_options=engine)})
        assert answer.json().get("error", {}).get("param") != "job.backend_options.axolotl"
        elsewhere = {"openai": {"base_url": "http://attacker.example/v1"}}
        answer = client.post("/tunesdk/v1/plan", json={"job": job(backend_options=elsewhere)})
        assert answer.status_code == 400
        assert answer.json()["error"]["param"] == "job.backend_options.openai.base_url"
