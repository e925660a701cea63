"""Fixtures: a fresh Fireworks emulator per test, the official SDK pointed at it, sample data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fireworks
import pytest

from tunesdk.managed import RetryPolicy
from tunesdk_fireworks.backend import FireworksBackend
from tunesdk_fireworks.emulator import FireworksEmulator

API_KEY = "fw-test-key-0123456789"
ACCOUNT = "acme"
FAST: dict[str, Any] = {"seconds_per_step": 0.02, "phase_s": 0.03, "deploy_s": 0.03}


class Samples:
    """Small valid Fireworks datasets (tests reach these through the ``samples`` fixture)."""

    @staticmethod
    def chat(n: int = 6) -> list[dict[str, Any]]:
        return [
            {
                "messages": [
                    {"role": "system", "content": "Answer briefly."},
                    {"role": "user", "content": f"What is {i} + {i}?"},
                    {"role": "assistant", "content": str(2 * i)},
                ]
            }
            for i in range(n)
        ]

    @staticmethod
    def dpo(n: int = 6) -> list[dict[str, Any]]:
        return [
            {
                "input": {"messages": [{"role": "user", "content": f"Greet person {i}."}]},
                "preferred_output": [{"role": "assistant", "content": f"Hello, person {i}!"}],
                "non_preferred_output": [{"role": "assistant", "content": "Go away."}],
            }
            for i in range(n)
        ]

    @staticmethod
    def write(path: Path, rows: list[dict[str, Any]]) -> Path:
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        return path


@pytest.fixture
def samples() -> type[Samples]:
    return Samples


@pytest.fixture
def emulator() -> Iterator[FireworksEmulator]:
    with FireworksEmulator(**FAST) as server:
        yield server


@pytest.fixture
def sdk(emulator: FireworksEmulator) -> Iterator[fireworks.Fireworks]:
    client = fireworks.Fireworks(
        api_key=API_KEY, account_id=ACCOUNT, base_url=emulator.base_url, max_retries=0
    )
    yield client
    client.close()


@pytest.fixture
def train_file(tmp_path: Path) -> Path:
    return Samples.write(tmp_path / "train.jsonl", Samples.chat())


@pytest.fixture
def dpo_file(tmp_path: Path) -> Path:
    return Samples.write(tmp_path / "prefs.jsonl", Samples.dpo())


@pytest.fixture
def ready_dataset(sdk: fireworks.Fireworks, train_file: Path) -> str:
    """A READY chat dataset named ``accounts/acme/datasets/train``."""
    sdk.datasets.create(dataset_id="train", dataset={"user_uploaded": {}})
    sdk.datasets.upload("train", file=train_file)
    return f"accounts/{ACCOUNT}/datasets/train"


@pytest.fixture
def fireworks_env(
    emulator: FireworksEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> FireworksEmulator:
    """The environment a user sets, pointed at the emulator; fast polling and retries."""
    monkeypatch.setenv("FIREWORKS_API_KEY", API_KEY)
    monkeypatch.setenv("FIREWORKS_ACCOUNT_ID", ACCOUNT)
    monkeypatch.setenv("FIREWORKS_BASE_URL", emulator.base_url)
    monkeypatch.setenv("TUNESDK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setattr(FireworksBackend, "poll_interval", (0.02, 0.05))
    monkeypatch.setattr(FireworksBackend, "retry_policy", RetryPolicy(6, 0.01, 0.05))
    return emulator
