"""Fixtures: a fresh OpenAI emulator per test, the official SDK pointed at it, sample data."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tunesdk_openai.emulator import OpenAIEmulator

API_KEY = "sk-test-0123456789abcdefghijklmnop"
FAST: dict[str, Any] = {"validate_s": 0.05, "queue_s": 0.05, "seconds_per_step": 0.02}


class Samples:
    """Small valid OpenAI-format datasets (tests reach these through the ``samples`` fixture)."""

    @staticmethod
    def sft(n: int = 12) -> list[dict[str, Any]]:
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
    def dpo(n: int = 12) -> list[dict[str, Any]]:
        return [
            {
                "input": {"messages": [{"role": "user", "content": f"Greet person {i}."}]},
                "preferred_output": [{"role": "assistant", "content": f"Hello, person {i}!"}],
                "non_preferred_output": [{"role": "assistant", "content": "Go away."}],
            }
            for i in range(n)
        ]

    @staticmethod
    def jsonl(rows: list[dict[str, Any]]) -> bytes:
        return ("\n".join(json.dumps(row) for row in rows) + "\n").encode()

    @classmethod
    def write(cls, path: Path, rows: list[dict[str, Any]]) -> Path:
        path.write_bytes(cls.jsonl(rows))
        return path


@pytest.fixture
def samples() -> type[Samples]:
    return Samples


@pytest.fixture
def api_key() -> str:
    return API_KEY


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
def emulator() -> Iterator[OpenAIEmulator]:
    with OpenAIEmulator(**FAST) as server:
        yield server


@pytest.fixture
def sdk(emulator: OpenAIEmulator) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(base_url=emulator.base_url, api_key=API_KEY, max_retries=0)
    yield client
    client.close()
