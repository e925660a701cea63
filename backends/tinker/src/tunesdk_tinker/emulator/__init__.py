"""An offline Tinker server: the Tinker training API on 127.0.0.1, backed by real torch + PEFT
LoRA training of a local model, for the official ``tinker`` client unmodified.

>>> from tunesdk_tinker.emulator import TinkerServer
>>> with TinkerServer(models={"Qwen/Qwen3-8B": "/models/tiny"}, state_dir=tmp) as server:
...     os.environ.update(server.env())          # TINKER_BASE_URL, TINKER_API_KEY
...     service = tinker.ServiceClient()
...     trainer = service.create_lora_training_client(base_model="Qwen/Qwen3-8B", rank=8)

From a shell: ``tunesdk emulator tinker --set default_model=/models/tiny`` (port 8767), then
``export TINKER_BASE_URL=http://127.0.0.1:8767 TINKER_API_KEY=tml-emulated-key``.
Importing this package does not import torch; the first model load does.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from tunesdk.emulation import AdminRoute, ASGIApp, EmulatorSettings, ProviderEmulator

#: the key ``env()`` and the banner suggest (the client requires the ``tml-`` prefix)
DEFAULT_TINKER_KEY = "tml-emulated-key"


@dataclasses.dataclass
class TinkerSettings(EmulatorSettings):
    """The offline Tinker server's settings (``--set NAME=VALUE``, ``configure(...)``).

    ``seconds_per_step`` and ``fail_at_step`` (shared by every emulator) do not apply: training
    here is real and takes as long as it takes.
    """

    #: model names the client passes → local Hugging Face folders
    models: dict[str, str] = dataclasses.field(default_factory=dict)
    #: the local folder that serves any other name (None: other names are refused)
    default_model: str | None = None
    #: where training runs and checkpoints live (None: ``$TUNESDK_HOME/tinker-server``)
    state_dir: Path | None = None
    #: LoRA alpha for every training client (the Tinker API has no alpha; scale = alpha / rank)
    lora_alpha: float = 32.0
    #: "auto" (CUDA when available), "cpu", "cuda", "cuda:1", ...
    device: str = "auto"
    #: samplers kept loaded at once (each holds a copy of its base model)
    loaded_samplers: int = 2


class TinkerServer(ProviderEmulator):
    """The Tinker API served on 127.0.0.1 in a background thread; a context manager.

    Keyword arguments are `TinkerSettings` fields. ``configure`` changes them while it runs
    (models, lora_alpha: for training clients created from then on), except ``state_dir`` and
    ``device``, which are read once at start.
    """

    name = "tinker"
    title = "Tinker (offline, real LoRA training)"
    settings_type = TinkerSettings
    default_port = 8767
    settings: TinkerSettings

    def build_app(self) -> ASGIApp:
        from tunesdk_tinker.emulator.app import build_app
        from tunesdk_tinker.emulator.state import ServerConfig, ServerState

        self.state = ServerState(
            ServerConfig(
                state_dir=self.state_dir,
                models=dict(self.settings.models),
                default_model=self.settings.default_model,
                lora_alpha=self.settings.lora_alpha,
                device=_device(self.settings.device),
                loaded_samplers=self.settings.loaded_samplers,
            )
        )
        return build_app(self.state, self.settings)

    def configure(self, **changes: Any) -> EmulatorSettings:
        fixed = sorted({"state_dir", "device"} & set(changes))
        if fixed:
            raise ValueError(f"{fixed} are read at start; start another server to change them")
        settings = super().configure(**changes)
        self.state.live(
            models=dict(self.settings.models),
            default_model=self.settings.default_model,
            lora_alpha=self.settings.lora_alpha,
            loaded_samplers=self.settings.loaded_samplers,
        )
        return settings

    @property
    def state_dir(self) -> Path:
        if self.settings.state_dir is not None:
            return Path(self.settings.state_dir).expanduser()
        from tunesdk.store import home

        return home() / "tinker-server"

    def admin_routes(self) -> dict[str, AdminRoute]:
        routes = super().admin_routes()
        routes.pop("/_emulator/fail_next_job", None)  # no simulated jobs to fail
        return routes

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        from tunesdk_tinker.emulator.errors import error_body

        return error_body(status, message)

    def env(self, api_key: str = DEFAULT_TINKER_KEY) -> dict[str, str]:
        """Environment variables that point the ``tinker`` client (and tunesdk) here."""
        return {
            "TINKER_BASE_URL": self.base_url,
            "TINKER_API_KEY": api_key,
            "TINKER_TELEMETRY": "0",
        }

    @property
    def jobs(self) -> dict[str, Any]:
        """Training runs by id (Tinker has no jobs; its training runs are the closest)."""
        return {info.run_id: info for info in self.state.store.list_runs()}

    def banner(self) -> str:
        text = super().banner().replace("emulated-key", DEFAULT_TINKER_KEY)
        served = ", ".join(f"{k} -> {v}" for k, v in self.settings.models.items()) or "none"
        lines = [
            text,
            f"  models: {served}; a local model folder: served as it is; any other name: "
            f"{self.settings.default_model or 'refused'}",
        ]
        lines.append(f"  checkpoints in {self.state_dir}")
        return "\n".join(lines)

    def close(self) -> None:
        state = getattr(self, "state", None)
        if state is not None:
            state.close()


def _device(choice: str) -> str:
    if choice != "auto":
        return choice
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


__all__ = ["DEFAULT_TINKER_KEY", "TinkerServer", "TinkerSettings"]
