"""An offline OpenAI fine-tuning service: files, uploads, jobs, events, checkpoints, chat.

>>> from tunesdk_openai.emulator import OpenAIEmulator
>>> with OpenAIEmulator(seconds_per_step=0.01) as emulator:
...     client = openai.OpenAI(base_url=emulator.base_url, api_key="sk-test")

``emulator.faults`` injects failures, ``emulator.settings`` changes behaviour while it runs, and
``emulator.world`` holds what the service stores. From the command line:
``tunesdk-openai emulator --port 8080``.
"""

from __future__ import annotations

from typing import Any

from tunesdk.emulation import EmulatorServer, Fault, Faults
from tunesdk_openai.emulator.app import SETTINGS_PATH, create_app
from tunesdk_openai.emulator.state import Settings, World


class OpenAIEmulator:
    """The emulator served on 127.0.0.1 in a background thread (a context manager).

    Keyword arguments set `Settings` fields, e.g. ``seconds_per_step=0.01``,
    ``fail_at_step=3``, ``max_file_bytes=4096``, ``fine_tuning_enabled=False``.
    """

    def __init__(self, *, port: int = 0, seed: int = 0, **settings: Any) -> None:
        self.settings = Settings()
        self.settings.update(settings)
        self.world = World(self.settings, seed=seed)
        self.faults = Faults()
        self.server = EmulatorServer(create_app(self.world, self.faults), port=port)

    @property
    def url(self) -> str:
        """The server root (``http://127.0.0.1:PORT``); Azure clients take it as azure_endpoint."""
        return self.server.base_url

    @property
    def base_url(self) -> str:
        """What ``OPENAI_BASE_URL`` / ``OpenAI(base_url=...)`` takes: the root plus ``/v1``."""
        return f"{self.url}/v1"

    @property
    def settings_url(self) -> str:
        return f"{self.url}{SETTINGS_PATH}"

    def fault(self, **fields: Any) -> Fault:
        """Inject a fault, e.g. ``fault(status=429, times=3, path="/v1/fine_tuning/jobs")``."""
        return self.faults.add(**fields)

    def start(self) -> OpenAIEmulator:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> OpenAIEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["OpenAIEmulator", "Settings", "World", "create_app"]
