"""Fixtures for the Together tests: an emulator per test, the SDK pointed at it, data files.

The emulator and its fast timing come from ``tests/conftest.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from together import Together

from tunesdk_together.emulator import TogetherEmulator


@pytest.fixture
def provider_name() -> str:
    return "together"  # tests/conftest.py starts its emulator: provider, emulator, provider_env


@pytest.fixture
def client(emulator: TogetherEmulator) -> Together:
    return Together(base_url=emulator.base_url, api_key="test-key", max_retries=0)


@pytest.fixture
def together_env(provider_env: TogetherEmulator) -> TogetherEmulator:
    return provider_env


class Data:
    """Writes small datasets in Together's formats into a test's temporary folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def write(self, name: str, rows: list[dict[str, Any]]) -> Path:
        path = self.folder / name
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        return path

    @staticmethod
    def chat(n: int = 16) -> list[dict[str, Any]]:
        return [
            {
                "messages": [
                    {"role": "system", "content": "You answer in one word."},
                    {"role": "user", "content": f"What is item {i}?"},
                    {"role": "assistant", "content": f"Item{i}"},
                ]
            }
            for i in range(n)
        ]


@pytest.fixture
def data(tmp_path: Path) -> Data:
    folder = tmp_path / "data"
    folder.mkdir()
    return Data(folder)


@pytest.fixture
def sft_file(data: Data) -> Path:
    return data.write("train.jsonl", data.chat())


@pytest.fixture
def dpo_file(data: Data, samples: Any) -> Path:
    return data.write("prefs.jsonl", samples.dpo(16))


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry and poll quickly: the emulator answers in milliseconds."""
    from tunesdk.managed import RetryPolicy
    from tunesdk_together.backend import TogetherBackend

    monkeypatch.setattr(TogetherBackend, "retry_policy", RetryPolicy(6, 0.01, 0.05))
    monkeypatch.setattr(TogetherBackend, "poll_interval", (0.02, 0.1))
