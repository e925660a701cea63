"""``tunesdk serve`` killed with SIGKILL mid-run and started again: the job completes and its
events are whole (seq 1..n without gaps, one terminal event, no provider event twice), and a
client's event stream resumes across the restart with ``Last-Event-ID`` missing nothing.

The server runs as a real subprocess (``python -m tunesdk serve``) on a free port over a private
``TUNESDK_HOME``. On Together (the emulator runs in the test process, so the provider's job goes on
while the server is dead) the restarted server must poll the provider again to learn the rest; on
the simulated local backend the worker (in its own session) outlives the server and the restarted
server notices its end.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tunesdk.testing import tiny_chat_data

pytestmark = pytest.mark.filterwarnings("ignore::tunesdk.errors.UnsupportedOptionWarning")


SERVE = [sys.executable, "-m", "tunesdk", "serve"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``tunesdk serve`` in a child process; `kill` sends SIGKILL to its pid only."""

    def __init__(
        self, env: dict[str, str], backend: str, log: Path, args: tuple[str, ...] = ()
    ) -> None:
        self.env, self.backend, self.log, self.args = env, backend, log, args
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [*SERVE, "--port", str(self.port), "--backend", self.backend, *self.args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.url}/tunesdk/v1/backends", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start:\n" + self.log.read_text()
            time.sleep(0.1)

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def read_stream(
    client: httpx.Client, run_id: str, last: int, *, until_seq: int | None
) -> list[Any]:
    """Events of the run's SSE stream after ``last``; stop once ``until_seq`` arrived (None: to
    the end of the stream)."""
    got = []
    headers = {"Last-Event-ID": str(last)} if last else {}
    url = f"/tunesdk/v1/runs/{run_id}/events/stream"
    with client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if line.startswith("data: ") and '"reason"' not in line:
                got.append(json.loads(line[len("data: ") :]))
                if until_seq is not None and got[-1]["seq"] >= until_seq:
                    break
    return got


@pytest.fixture
def together_env(providers: Any) -> Iterator[tuple[dict[str, str], Any]]:
    pytest.importorskip("tunesdk_together", reason="tunesdk-together is not installed")
    # slow enough that the provider job is mid-training when the server dies
    with providers.together(seconds_per_step=0.25) as provider:
        yield provider.env, provider.emulator


@pytest.mark.parametrize("backend", ["together", "simulated"])
def test_a_sigkilled_server_restarts_and_the_run_completes_with_whole_events(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env = {
        **os.environ,
        "TUNESDK_HOME": str(tmp_path / "home"),
        "HF_HUB_OFFLINE": "1",
        "TUNESDK_POLL_INTERVAL": "0.05",
    }
    env.pop("TUNESDK_SERVE_API_KEYS", None)
    args: tuple[str, ...] = ()
    if backend == "together":
        provider_env, _ = request.getfixturevalue("together_env")
        env |= provider_env
        spec: dict[str, Any] = {
            "model": "meta-llama/Llama-3.1-8B-Instruct",
            "data": tiny_chat_data(32),
            "epochs": 3,
        }
    else:
        spec = {
            "model": "tiny/model",
            "data": tiny_chat_data(8),
            "max_steps": 40,
            "backend_options": {"simulated": {"step_seconds": 0.1}},
        }
        # the store named by --home (not $TUNESDK_HOME) is where runs and workers go
        del env["TUNESDK_HOME"]
        args = ("--home", str(tmp_path / "home"))
    server = ServerProcess(env, backend, tmp_path / "serve.log", args)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            created = client.post("/tunesdk/v1/runs", json={"job": spec})
            assert created.status_code == 201, created.text
            run_id = created.json()["id"]
            # a client watches until a few training steps are in, then the server dies
            before = []
            deadline = time.monotonic() + 60
            while sum(e["type"] == "progress" for e in before) < 2:
                assert time.monotonic() < deadline
                last = before[-1]["seq"] if before else 0
                before += read_stream(client, run_id, last, until_seq=last + 1)
        server.kill()
        assert not any(e["type"] in ("completed", "failed", "cancelled") for e in before)

        time.sleep(0.5)  # the provider / the worker goes on without the server
        server.start()
        with httpx.Client(base_url=server.url, timeout=60) as client:
            # nobody watches: the restarted server follows the run by itself
            deadline = time.monotonic() + 60
            while (final := client.get(f"/tunesdk/v1/runs/{run_id}").json())["status"] not in (
                "completed",
                "failed",
                "cancelled",
            ):
                assert time.monotonic() < deadline, final
                time.sleep(0.1)
            after = read_stream(client, run_id, before[-1]["seq"], until_seq=None)
    finally:
        server.stop()

    assert final["status"] == "completed", final
    events = before + after
    log = [
        json.loads(line)
        for line in (tmp_path / "home" / "runs" / run_id / "events.jsonl").read_text().splitlines()
    ]
    assert events == log  # the stream across the restart: every event once, in order
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
    terminal = [e for e in log if e["type"] in ("completed", "failed", "cancelled")]
    assert len(terminal) == 1 and log[-1]["type"] == "completed"
    sources = [e["source_id"] for e in log if e.get("source_id")]
    assert len(sources) == len(set(sources))  # no provider event twice
    steps = [e["step"] for e in log if e["type"] == "progress"]
    assert steps == sorted(set(steps)) and len(steps) >= 3


def test_sigterm_stops_the_server_promptly_with_streams_open(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "TUNESDK_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    env.pop("TUNESDK_SERVE_API_KEYS", None)
    server = ServerProcess(env, "simulated", tmp_path / "serve.log")
    server.start()
    spec = {
        "model": "tiny/model",
        "data": tiny_chat_data(8),
        "max_steps": 400,
        "backend_options": {"simulated": {"step_seconds": 0.05}},
    }
    run_id = ""
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            run_id = client.post("/tunesdk/v1/runs", json={"job": spec}).json()["id"]
            with client.stream("GET", f"/tunesdk/v1/runs/{run_id}/events/stream") as response:
                lines = response.iter_lines()
                while '"type":"progress"' not in next(lines):
                    pass  # the run is training and its stream open
                assert server.proc is not None
                began = time.monotonic()
                server.proc.terminate()
                server.proc.wait(timeout=15)
                assert time.monotonic() - began < 8, "shutdown waited for the open stream"
    finally:
        server.stop()
        state = json.loads((home / "runs" / run_id / "state.json").read_text()) if run_id else {}
        pid = state.get("backend_state", {}).get("worker_pid")
        if pid:  # the run's worker outlives the server by design: end it
            try:
                os.killpg(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
