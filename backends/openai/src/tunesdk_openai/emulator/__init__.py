"""An offline OpenAI fine-tuning service: files, uploads, jobs, events, checkpoints, chat.

>>> from tunesdk_openai.emulator import OpenAIEmulator
>>> with OpenAIEmulator(seconds_per_step=0.01) as emulator:
...     client = openai.OpenAI(base_url=emulator.base_url, api_key="sk-test")
...     emulator.fault(status=429, times=3, path="/v1/fine_tuning/jobs$")
...     emulator.fail_next_job(at_step=3)

``emulator.settings`` (or ``configure()``) changes behaviour while it runs and ``emulator.world``
holds what the service stores. From a shell: ``tunesdk emulator openai`` (port 8080).
"""

from __future__ import annotations

from typing import Any

from tunesdk.emulation import DEFAULT_KEY, ASGIApp, ProviderEmulator
from tunesdk_openai.emulator.app import SETTINGS_PATH, create_app, error_body
from tunesdk_openai.emulator.state import Settings, TrainingJob, World


class OpenAIEmulator(ProviderEmulator):
    """The emulator served on 127.0.0.1 in a background thread (a context manager).

    Keyword arguments are `Settings` fields, e.g. ``seconds_per_step=0.01``,
    ``fail_at_step=3``, ``max_file_bytes=4096``, ``fine_tuning_enabled=False``, ``seed=1``.
    """

    name = "openai"
    title = "OpenAI"
    settings_type = Settings
    default_port = 8080
    interactive_settings = {"validate_s": 1.0, "queue_s": 2.0}
    settings_aliases = (SETTINGS_PATH,)
    settings: Settings

    def build_app(self) -> ASGIApp:
        self.world = World(self.settings, seed=self.settings.seed, failures=self.failures)
        return create_app(self.world)

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return error_body(status, message)

    @property
    def base_url(self) -> str:
        """What ``OPENAI_BASE_URL`` / ``OpenAI(base_url=...)`` takes: the root plus ``/v1``;
        Azure clients take the root (``url``) as ``azure_endpoint``."""
        return f"{self.url}/v1"

    def env(self, api_key: str = DEFAULT_KEY) -> dict[str, str]:
        """Environment variables that point the ``openai`` SDK (and tunesdk) here."""
        return {"OPENAI_BASE_URL": self.base_url, "OPENAI_API_KEY": api_key}

    @property
    def jobs(self) -> dict[str, TrainingJob]:
        with self.world.lock:
            return dict(self.world.jobs)


__all__ = ["OpenAIEmulator", "Settings", "World", "create_app"]
