"""`tunesdk serve` and `tunesdk emulator` on a port that is taken: one clear error (what, where,
fix) before any banner claims the address, instead of uvicorn's bare ``[Errno 98]`` after it."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from tests.conftest import Invoke


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield int(sock.getsockname()[1])


def _never_serve(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    started: list[Any] = []
    import tunesdk.serve.server

    monkeypatch.setattr(tunesdk.serve.server, "serve", lambda config: started.append(config))
    return started


def test_serve_on_a_taken_port_names_the_port_and_the_fix(
    invoke: Invoke, taken_port: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    started = _never_serve(monkeypatch)
    code, _, err = invoke(["serve", "--port", str(taken_port), "--home", str(tmp_path)])
    assert code != 0 and not started
    assert f"port {taken_port} on 127.0.0.1 is already in use" in err
    assert "--port" in err and f"--port {taken_port + 1}" in err
    assert "tunesdk serve on" not in err  # no banner for a server that never listened


def test_serve_banner_stays_one_line_on_a_narrow_terminal(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    started = _never_serve(monkeypatch)
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = int(sock.getsockname()[1])
    code, _, err = invoke(["serve", "--port", str(port), "--home", str(tmp_path)], width=60)
    assert code == 0 and started
    assert f"openai SDK: base_url='http://127.0.0.1:{port}/v1'" in err


def test_emulator_on_a_taken_port_names_the_port_and_the_fix(
    invoke: Invoke, taken_port: int
) -> None:
    code, _, err = invoke(["emulator", "together", "--port", str(taken_port)])
    assert code != 0
    assert f"port {taken_port} on 127.0.0.1 is already in use" in err
    assert "emulator on" not in err.lower()  # the banner comes only once the port is free
