"""An offline Together AI: the fine-tuning, files and chat API on 127.0.0.1.

>>> from tunesdk_together.emulator import TogetherEmulator
>>> with TogetherEmulator(seconds_per_step=0.01) as emu:
...     client = together.Together(base_url=emu.base_url, api_key="test")
...     emu.fault(status=429, path="/v1/fine-tunes$", times=2)  # two rate-limit answers on create
...     emu.fail_next_job(at_step=3)                           # the next job errors at step 3

From a shell: ``tunesdk emulator together`` (port 8765) then
``TOGETHER_BASE_URL=http://127.0.0.1:8765 TOGETHER_API_KEY=emulated-key python my_app.py``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from tunesdk.emulation import DEFAULT_KEY, AdminRoute, ASGIApp, ProviderEmulator
from tunesdk_together.emulator.app import ADMIN_PATH, build_app, training_admin
from tunesdk_together.emulator.errors import error_body
from tunesdk_together.emulator.jobs import EmulatedJob, Timing
from tunesdk_together.emulator.state import EmulatorConfig, EmulatorState


class TogetherEmulator(ProviderEmulator):
    """A Together API emulator served on 127.0.0.1; a context manager that starts and stops it.

    Keyword arguments are `EmulatorConfig` fields: speeds (``seconds_per_step``, ``pending_s``,
    ``queued_s``, ``compress_s``, ``upload_s``, ``cancel_s``, ``validation_s``; or a whole
    ``timing=Timing(...)``), ``api_keys`` (the accepted keys), ``balance`` (account credit in
    dollars), ``adapter_dir``/``model_dir`` (the folders ``/v1/finetune/download`` serves).
    """

    name = "together"
    title = "Together AI"
    settings_type = EmulatorConfig
    default_port = 8765
    interactive_settings = {"pending_s": 1.0, "queued_s": 1.0}
    settings: EmulatorConfig

    def __init__(
        self,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        timing: Timing | None = None,
        **settings: Any,
    ) -> None:
        if timing is not None:
            settings = {**asdict(timing), **settings}
        super().__init__(host=host, port=port, **settings)

    def build_app(self) -> ASGIApp:
        self.state = EmulatorState(self.settings, failures=self.failures)
        return build_app(self.state)

    def admin_routes(self) -> dict[str, AdminRoute]:
        return {**super().admin_routes(), ADMIN_PATH: training_admin(self.state)}

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return error_body(status, message)

    def env(self, api_key: str = DEFAULT_KEY) -> dict[str, str]:
        """Environment variables that point the ``together`` SDK (and tunesdk) here."""
        return {"TOGETHER_BASE_URL": self.base_url, "TOGETHER_API_KEY": api_key}

    @property
    def jobs(self) -> dict[str, EmulatedJob]:
        return {job.id: job for job in self.state.list_jobs()}

    def close(self) -> None:
        self.state.close()


__all__ = [
    "ADMIN_PATH",
    "EmulatorConfig",
    "EmulatorState",
    "Timing",
    "TogetherEmulator",
    "build_app",
]
