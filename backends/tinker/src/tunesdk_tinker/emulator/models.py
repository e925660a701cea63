"""Base models: the names the client asks for, mapped to local Hugging Face folders, loaded once.

``models={"Qwen/Qwen3-8B": "/models/tiny"}`` maps a name; ``default_model="/models/tiny"`` serves
every other name; a name that is itself a local folder is served as it is. Anything else is a
bad request naming what the server has. Each training client and sampler gets its own copy of
the cached base weights (LoRA layers are injected into the copy).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tunesdk_tinker.emulator.errors import BadRequest


class BaseModels:
    """Resolves model names to local folders and hands out fresh copies of their weights."""

    def __init__(
        self, mapping: Mapping[str, str], default: str | None, device: str = "cpu"
    ) -> None:
        self.remap(mapping, default)
        self.device = device
        self._cache: dict[Path, tuple[Any, Any]] = {}
        self._lock = threading.Lock()

    def remap(self, mapping: Mapping[str, str], default: str | None) -> None:
        self.mapping = {name: Path(path).expanduser() for name, path in mapping.items()}
        self.default = Path(default).expanduser() if default else None

    def names(self) -> list[str]:
        return sorted(self.mapping)

    def resolve(self, name: str) -> Path:
        """The local folder serving ``name``; BadRequest when nothing does."""
        if name in self.mapping:
            return self.mapping[name]
        if (Path(name).expanduser() / "config.json").is_file():
            return Path(name).expanduser()
        if self.default is not None:
            return self.default
        known = ", ".join(self.names()) or "none"
        raise BadRequest(
            f"base model {name!r} is not served here (served: {known}); start the server with "
            f'--set \'models={{"{name}": "/path/to/local/model"}}\' or '
            "--set default_model=/path/to/local/model"
        )

    def tokenizer(self, name: str) -> Any:
        return self._load(self.resolve(name))[1]

    def fresh_copy(self, name: str) -> Any:
        """A private copy of ``name``'s weights, ready for LoRA layers."""
        base = self._load(self.resolve(name))[0]
        with self._lock:
            return copy.deepcopy(base)

    def _load(self, path: Path) -> tuple[Any, Any]:
        with self._lock:
            if path not in self._cache:
                if not (path / "config.json").is_file():
                    raise BadRequest(f"{path} is not a Hugging Face model folder (no config.json)")
                from transformers import AutoModelForCausalLM, AutoTokenizer

                from tunesdk.quiet import quiet_hf

                with quiet_hf():  # no "Loading weights" bar per training client
                    model = AutoModelForCausalLM.from_pretrained(path, dtype="auto")
                model.to(self.device)  # type: ignore[arg-type]
                model.requires_grad_(False)
                self._cache[path] = (model, AutoTokenizer.from_pretrained(path))
            return self._cache[path]


__all__ = ["BaseModels"]
