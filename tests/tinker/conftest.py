"""Fixtures for the Tinker tests: one offline Tinker server for the whole session, the official
client pointed at it.

- ``tinker_server`` (session): a `TinkerServer` on a free port serving the tiny model under
  ``TINY_TINKER_MODEL``, checkpoints in a session temp folder. Its models and ``lora_alpha`` can
  be changed with ``tinker_server.configure(...)`` (for clients created afterwards).
- ``tinker_model`` (session): that model name.
- ``tinker_env`` (function): the process environment a user would set (``TINKER_BASE_URL``,
  a fake ``tml-`` key, telemetry off); returns the server.
- ``service_client`` (function): a ``tinker.ServiceClient`` on the server, closed afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tunesdk_tinker.emulator import TinkerServer

#: the base model name the shared server serves (mapped to the tiny local model)
TINY_TINKER_MODEL = "tunesdk/tiny-llama"


@pytest.fixture(scope="session")
def tinker_model() -> str:
    return TINY_TINKER_MODEL


@pytest.fixture(scope="session")
def tinker_server(
    tiny_model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TinkerServer]:
    server = TinkerServer(
        models={TINY_TINKER_MODEL: str(tiny_model_path)},
        state_dir=tmp_path_factory.mktemp("tinker-server"),
        device="cpu",
    )
    with server:
        yield server


@pytest.fixture
def tinker_env(tinker_server: TinkerServer, monkeypatch: pytest.MonkeyPatch) -> TinkerServer:
    for name, value in tinker_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TINKER_CREDENTIAL_CMD", raising=False)
    return tinker_server


@pytest.fixture
def service_client(tinker_env: TinkerServer) -> Iterator[object]:
    import tinker

    client = tinker.ServiceClient()
    yield client
    client.close("success").result(timeout=30)
