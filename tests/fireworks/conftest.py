"""Fixtures: a fresh Fireworks emulator per test, the official SDK pointed at it, sample files.

The emulator, its fast settings and the sample data come from ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fireworks
import pytest

from tunesdk_fireworks.emulator import FireworksEmulator

ACCOUNT = "acme"


@pytest.fixture
def provider_name() -> str:
    return "fireworks"  # tests/conftest.py starts its emulator: provider, emulator, provider_env


@pytest.fixture
def sdk(provider: Any) -> Iterator[fireworks.Fireworks]:
    client = fireworks.Fireworks(
        api_key=provider.api_key,
        account_id=ACCOUNT,
        base_url=provider.emulator.base_url,
        max_retries=0,
    )
    yield client
    client.close()


@pytest.fixture
def train_file(tmp_path: Path, samples: Any) -> Path:
    return samples.write(tmp_path / "train.jsonl", samples.chat(6))


@pytest.fixture
def dpo_file(tmp_path: Path, samples: Any) -> Path:
    return samples.write(tmp_path / "prefs.jsonl", samples.dpo(6))


@pytest.fixture
def ready_dataset(sdk: fireworks.Fireworks, train_file: Path) -> str:
    """A READY chat dataset named ``accounts/acme/datasets/train``."""
    sdk.datasets.create(dataset_id="train", dataset={"user_uploaded": {}})
    sdk.datasets.upload("train", file=train_file)
    return f"accounts/{ACCOUNT}/datasets/train"


@pytest.fixture
def fireworks_env(provider_env: FireworksEmulator) -> FireworksEmulator:
    return provider_env
