"""Fixtures: a fresh OpenAI emulator per test and the official SDK pointed at it.

The emulator, its fast settings and the sample data come from ``tests/conftest.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from tunesdk_openai.emulator import OpenAIEmulator


@pytest.fixture
def provider_name() -> str:
    return "openai"  # tests/conftest.py starts its emulator: provider, emulator, provider_env


@pytest.fixture
def api_key(provider: Any) -> str:
    return str(provider.api_key)


@pytest.fixture
def openai_env(provider_env: OpenAIEmulator) -> OpenAIEmulator:
    return provider_env


def _wait_until(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    pytest.fail(f"condition not met within {timeout} s")


@pytest.fixture
def wait_until() -> Callable[..., Any]:
    return _wait_until


@pytest.fixture
def sdk(emulator: OpenAIEmulator, api_key: str) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(base_url=emulator.base_url, api_key=api_key, max_retries=0)
    yield client
    client.close()
