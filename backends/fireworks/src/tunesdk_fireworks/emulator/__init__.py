"""An offline Fireworks AI: the REST API the ``fireworks-ai`` SDK calls, served on 127.0.0.1.

>>> with FireworksEmulator(seconds_per_step=0.01) as emulator:
...     client = fireworks.Fireworks(api_key="test", account_id="me", base_url=emulator.base_url)
...     emulator.fault(status=429, times=3)   # see `tunesdk.emulation.Fault`
...     emulator.fail_next_job(at_step=5)

``emulator.settings`` (also ``emulator.config``) or ``configure()`` changes speeds, the failure
step or the accepted API keys while it runs. From a shell: ``tunesdk emulator fireworks`` (port
8766). Needs starlette and uvicorn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunesdk.emulation import DEFAULT_KEY, ASGIApp, ProviderEmulator
from tunesdk_fireworks.emulator.errors import fault_body
from tunesdk_fireworks.emulator.jobs import JobRecord
from tunesdk_fireworks.emulator.state import EmulatorConfig, EmulatorState

#: the account `env` points the SDK at
ACCOUNT = "me"


class FireworksEmulator(ProviderEmulator):
    """The emulated API, served in a background thread while the context is open.

    Keyword arguments are `EmulatorConfig` fields (``seconds_per_step``, ``phase_s``,
    ``deploy_s``, ``fail_at_step``, ``api_keys``, ...; ``api_key`` sets one accepted key);
    ``storage`` is where uploaded datasets go (default: a temporary folder).
    """

    name = "fireworks"
    title = "Fireworks AI"
    settings_type = EmulatorConfig
    default_port = 8766
    interactive_settings = {"phase_s": 1.0, "deploy_s": 2.0}
    settings_aliases = ("/_fireworks/config",)
    settings: EmulatorConfig

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        storage: Path | None = None,
        **settings: Any,
    ) -> None:
        self.storage = storage
        if "api_key" in settings:
            key = settings.pop("api_key")
            settings.setdefault("api_keys", None if key is None else [key])
        super().__init__(host=host, port=port, **settings)

    @property
    def config(self) -> EmulatorConfig:
        """The settings (the older name)."""
        return self.settings

    def build_app(self) -> ASGIApp:
        from tunesdk_fireworks.emulator.app import create_app

        self.state = EmulatorState(self.settings, self.storage, failures=self.failures)
        return create_app(self.state)

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return fault_body(status, message)

    def env(self, api_key: str = DEFAULT_KEY) -> dict[str, str]:
        """Environment variables that point the ``fireworks-ai`` SDK (and tunesdk) here."""
        return {
            "FIREWORKS_BASE_URL": self.base_url,
            "FIREWORKS_API_KEY": api_key,
            "FIREWORKS_ACCOUNT_ID": ACCOUNT,
        }

    @property
    def jobs(self) -> dict[str, JobRecord]:
        with self.state.lock:
            return {record.name: record for record in self.state.jobs.values()}

    def close(self) -> None:
        self.state.close()


__all__ = ["EmulatorConfig", "EmulatorState", "FireworksEmulator"]
