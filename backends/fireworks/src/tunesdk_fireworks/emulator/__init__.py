"""An offline Fireworks AI: the REST API the ``fireworks-ai`` SDK calls, served on 127.0.0.1.

>>> with FireworksEmulator(seconds_per_step=0.01) as emulator:
...     client = fireworks.Fireworks(api_key="test", account_id="me", base_url=emulator.base_url)

``emulator.faults`` injects failures (see `tunesdk.emulation.Faults`); ``emulator.config``
changes speeds, the failure step or the accepted API key while it runs. Needs starlette and uvicorn.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from tunesdk.emulation import EmulatorServer, FaultMiddleware, Faults
from tunesdk_fireworks.emulator.errors import fault_body
from tunesdk_fireworks.emulator.state import EmulatorConfig, EmulatorState


class FireworksEmulator:
    """The emulated API, served in a background thread while the context is open.

    Keyword arguments are `EmulatorConfig` fields (``seconds_per_step``, ``phase_s``,
    ``deploy_s``, ``fail_at_step``, ``api_key``, ...).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        storage: Path | None = None,
        **settings: Any,
    ) -> None:
        known = {f.name for f in fields(EmulatorConfig)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise TypeError(f"unknown emulator settings {unknown}; known: {sorted(known)}")
        self.state = EmulatorState(EmulatorConfig(**settings), storage)
        self.faults = Faults()
        from tunesdk_fireworks.emulator.app import create_app

        self.app = FaultMiddleware(create_app(self.state), self.faults, error_body=fault_body)
        self.server = EmulatorServer(self.app, host=host, port=port)

    @property
    def config(self) -> EmulatorConfig:
        return self.state.config

    @property
    def base_url(self) -> str:
        """The URL to give the SDK (``Fireworks(base_url=...)`` or ``FIREWORKS_BASE_URL``)."""
        return self.server.base_url

    def start(self) -> FireworksEmulator:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()
        self.state.close()

    def serve_forever(self) -> None:
        """Serve in the foreground until interrupted (``tunesdk-fireworks emulator``)."""
        try:
            self.server.serve_forever()
        finally:
            self.state.close()

    def __enter__(self) -> FireworksEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["EmulatorConfig", "EmulatorState", "FireworksEmulator"]
