"""An offline Together AI: the fine-tuning, files and chat API on 127.0.0.1.

>>> from tunesdk_together.emulator import TogetherEmulator
>>> with TogetherEmulator(seconds_per_step=0.01) as emu:
...     client = together.Together(base_url=emu.base_url, api_key="test")
...     emu.fault(status=429, path="/v1/fine-tunes", times=2)   # two rate-limit answers
...     emu.fail_next_job(at_step=3)                           # the next job errors at step 3

From a shell: ``tunesdk-together emulator --port 8765`` then
``TOGETHER_BASE_URL=http://127.0.0.1:8765 TOGETHER_API_KEY=test python my_app.py``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from tunesdk.emulation import EmulatorServer, Fault, Faults
from tunesdk_together.emulator.app import ADMIN_PATH, build_app
from tunesdk_together.emulator.jobs import Timing
from tunesdk_together.emulator.state import EmulatorConfig, EmulatorState


class ExactPathFault(Fault):
    """A fault for one exact path instead of a path prefix."""

    def matches(self, method: str, path: str) -> bool:
        return super().matches(method, path) and (self.path is None or path == self.path)


class TogetherEmulator:
    """A Together API emulator served on 127.0.0.1; a context manager that starts and stops it.

    ``timing`` (a `Timing`) or its fields as keywords (``seconds_per_step``, ``pending_s``,
    ``queued_s``, ``compress_s``, ``upload_s``, ``cancel_s``) set how fast emulated jobs move.
    ``api_keys`` restricts the accepted keys, ``balance`` the account credit in dollars,
    ``adapter_dir``/``model_dir`` the folders that ``/v1/finetune/download`` serves.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        api_keys: set[str] | None = None,
        balance: float = 1000.0,
        adapter_dir: str | Path | None = None,
        model_dir: str | Path | None = None,
        account: str = "tunesdk-emulator",
        timing: Timing | None = None,
        **speed: float,
    ) -> None:
        config = EmulatorConfig(
            timing=replace(timing or Timing(), **speed),
            account=account,
            api_keys=frozenset(api_keys) if api_keys is not None else None,
            balance=balance,
            adapter_dir=Path(adapter_dir) if adapter_dir else None,
            model_dir=Path(model_dir) if model_dir else None,
        )
        self.state = EmulatorState(config)
        self.faults = Faults()
        self.app = build_app(self.state, self.faults)
        self.server = EmulatorServer(self.app, port=port)

    @property
    def base_url(self) -> str:
        """Give this to the SDK as ``base_url`` (or ``TOGETHER_BASE_URL``); paths start with /v1."""
        return self.server.base_url

    def env(self, api_key: str = "emulated-key") -> dict[str, str]:
        """Environment variables that point the ``together`` SDK (and tunesdk) here."""
        return {"TOGETHER_BASE_URL": self.base_url, "TOGETHER_API_KEY": api_key}

    def fault(self, fault: Fault | None = None, **fields: Any) -> Fault:
        """Inject a fault into the next matching requests (see ``tunesdk.emulation.Fault``).

        ``path`` is a prefix; end it with ``$`` to match that path only (``"/v1/fine-tunes$"`` hits
        job creation but not ``/v1/fine-tunes/estimate-price``, which the SDK calls just before).
        """
        if fault is None and str(fields.get("path") or "").endswith("$"):
            fault = ExactPathFault(**{**fields, "path": fields["path"][:-1]})
        return self.faults.add(fault, **fields) if fault is None else self.faults.add(fault)

    def fail_next_job(self, at_step: int, message: str | None = None) -> None:
        """Make the next created job fail (status ``error``) once it reaches ``at_step``."""
        self.state.fail_next_job(at_step, message)

    def start(self) -> TogetherEmulator:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()
        self.state.close()

    def serve_forever(self) -> None:
        try:
            self.server.serve_forever()
        finally:
            self.state.close()

    def __enter__(self) -> TogetherEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = [
    "ADMIN_PATH",
    "EmulatorConfig",
    "EmulatorState",
    "ExactPathFault",
    "Timing",
    "TogetherEmulator",
    "build_app",
]
