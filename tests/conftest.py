"""Shared by every test folder: the provider emulators, started fast and wired into tunesdk.

Test folders reach these through the session fixture ``providers`` (with ``--import-mode=importlib``
a conftest cannot be imported, so helpers travel as fixtures). Provider packages are imported only
when their emulator is started, so folders that never use one do not need it installed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

#: (first, longest) seconds between polls: the emulators answer in milliseconds
FAST_POLL = (0.02, 0.1)
#: variables a developer's shell may hold that would point a backend elsewhere
FOREIGN_ENV = (
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_OPENAI_API_KEY",
    "OPENAI_API_VERSION",
    "WANDB_API_KEY",
)


@dataclass
class Provider:
    """A running provider emulator and what points its tunesdk backend at it."""

    name: str
    emulator: Any
    api_key: str
    env: dict[str, str]
    backend: type

    @property
    def requests(self) -> list[Any]:
        """Every HTTP request the emulator has received, in order."""
        return list(self.emulator.faults.requests)

    def jobs(self) -> int:
        """How many fine-tuning jobs the emulator holds."""
        if self.name == "openai":
            return len(self.emulator.world.jobs)
        if self.name == "together":
            return len(self.emulator.state.list_jobs())
        return len(self.emulator.state.jobs)

    def set_seconds_per_step(self, seconds: float) -> float:
        """Change how fast emulated training steps (for jobs created from now on); the old value."""
        if self.name == "openai":
            settings = self.emulator.settings
            before, settings.seconds_per_step = settings.seconds_per_step, seconds
        elif self.name == "together":
            before = self.emulator.state.config.timing.seconds_per_step
            self.emulator.state.set_timing(seconds_per_step=seconds)
        else:
            config = self.emulator.config
            before, config.seconds_per_step = config.seconds_per_step, seconds
        return float(before)

    def wire(self, monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
        """Set the environment a user would set, a private run store and fast polling/retries."""
        from tunesdk.managed import RetryPolicy

        for name in FOREIGN_ENV:
            monkeypatch.delenv(name, raising=False)
        for name, value in self.env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("TUNESDK_HOME", str(home))
        monkeypatch.setattr(self.backend, "poll_interval", FAST_POLL)
        monkeypatch.setattr(self.backend, "retry_policy", RetryPolicy(6, 0.01, 0.05))


class Providers:
    """Starts each provider's shipped emulator on 127.0.0.1 with fast simulated training."""

    names = ("openai", "together", "fireworks")

    @contextmanager
    def start(self, name: str, **settings: Any) -> Iterator[Provider]:
        """The emulator of provider ``name``; ``settings`` override its fast defaults."""
        starters = {"openai": self.openai, "together": self.together, "fireworks": self.fireworks}
        with starters[name](**settings) as provider:
            yield provider

    @contextmanager
    def openai(self, **settings: Any) -> Iterator[Provider]:
        from tunesdk_openai.backend import OpenAIBackend
        from tunesdk_openai.emulator import OpenAIEmulator

        fast = {"validate_s": 0.05, "queue_s": 0.05, "seconds_per_step": 0.02}
        key = "sk-test-0123456789abcdefghijklmnop"
        with OpenAIEmulator(**(fast | settings)) as emulator:
            env = {"OPENAI_API_KEY": key, "OPENAI_BASE_URL": emulator.base_url}
            yield Provider("openai", emulator, key, env, OpenAIBackend)

    @contextmanager
    def together(self, **settings: Any) -> Iterator[Provider]:
        from tunesdk_together.backend import TogetherBackend
        from tunesdk_together.emulator import Timing, TogetherEmulator

        fast = Timing(
            seconds_per_step=0.02,
            pending_s=0.03,
            queued_s=0.03,
            compress_s=0.03,
            upload_s=0.03,
            cancel_s=0.03,
        )
        key = "dummy-together-key"
        with TogetherEmulator(timing=fast, **settings) as emulator:
            yield Provider("together", emulator, key, emulator.env(key), TogetherBackend)

    @contextmanager
    def fireworks(self, **settings: Any) -> Iterator[Provider]:
        from tunesdk_fireworks.backend import FireworksBackend
        from tunesdk_fireworks.emulator import FireworksEmulator

        fast = {"seconds_per_step": 0.02, "phase_s": 0.03, "deploy_s": 0.03}
        key = "fw-test-key-0123456789"
        with FireworksEmulator(**(fast | settings)) as emulator:
            env = {
                "FIREWORKS_API_KEY": key,
                "FIREWORKS_ACCOUNT_ID": "acme",
                "FIREWORKS_BASE_URL": emulator.base_url,
            }
            yield Provider("fireworks", emulator, key, env, FireworksBackend)


class Samples:
    """Small valid datasets in the OpenAI shapes that the providers share."""

    @staticmethod
    def chat(n: int = 12) -> list[dict[str, Any]]:
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
        return "".join(json.dumps(row) + "\n" for row in rows).encode()

    @classmethod
    def write(cls, path: Path, rows: list[dict[str, Any]]) -> Path:
        path.write_bytes(cls.jsonl(rows))
        return path


@pytest.fixture(scope="session")
def providers() -> Providers:
    return Providers()


@pytest.fixture(scope="session")
def samples() -> type[Samples]:
    return Samples


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The random-weight tiny Llama of ``tunesdk.testing``, built once per test session."""
    from tunesdk.testing import tiny_model

    return tiny_model(tmp_path_factory.mktemp("tiny") / "model")
