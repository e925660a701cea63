"""Bottleneck adapters (Houlsby / Pfeiffer): the settings, the decoder-layer name map and sizes.

Pure: no torch, no transformers, so the plan can show the adapter settings and the trainable
parameter count instantly. The layers themselves are in ``tunesdk_trl.bottleneck_modules``.

No maintained library trains these on transformers 5 (AdapterHub ``adapters`` 1.3 pins
transformers 4.57; PEFT has no bottleneck tuner), so tunesdk adds them itself: after the chosen
blocks of every decoder layer, ``h + up(act(down(h)))`` with the up-projection zero-initialised (the
model starts exactly as the base), the base frozen.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesdk.errors import JobError
from tunesdk.job import Job
from tunesdk.methods import Adapter
from tunesdk.models import BOTTLENECK_CONFIG

#: what a saved bottleneck adapter folder holds (beside the tokenizer and tunesdk_model.json)
CONFIG_FILE = BOTTLENECK_CONFIG
WEIGHTS_FILE = "bottleneck_adapter.safetensors"
FORMAT = "tunesdk-bottleneck/1"


@dataclass(frozen=True)
class DecoderLayout:
    """Where a causal LM keeps its decoder layers and, inside each, the attention and MLP blocks
    (dotted module paths from the ``AutoModelForCausalLM`` model)."""

    layers: str
    attention: str = "self_attn"
    mlp: str = "mlp"

    def block(self, sublayer: str) -> str:
        return self.attention if sublayer == "attention" else self.mlp


_STANDARD = DecoderLayout("model.layers")
#: config.json ``model_type`` → layout (checked against transformers' own model classes in tests)
LAYOUTS: dict[str, DecoderLayout] = {
    "llama": _STANDARD,
    "mistral": _STANDARD,
    "qwen2": _STANDARD,
    "qwen3": _STANDARD,
    "gemma": _STANDARD,
    "gemma2": _STANDARD,
    "gemma3_text": _STANDARD,
    # Gemma 3 4B+ loads as Gemma3ForConditionalGeneration: the text decoder sits under language_model
    "gemma3": DecoderLayout("model.language_model.layers"),
}


def unsupported_architecture(model_type: str | None, model: str) -> JobError:
    known = ", ".join(sorted(LAYOUTS))
    return JobError(
        f"bottleneck adapters do not know where the decoder layers of {model!r} "
        f"(model_type {model_type!r}) are; tunesdk maps the layers of: {known}",
        where="job.method",
        fix="use a Llama, Mistral, Qwen2/3 or Gemma model, or ts.LoRA() (which works on any "
        "architecture)",
    )


def layout_for(model_type: str | None, model: str) -> DecoderLayout:
    """The layout for ``model_type``; a JobError naming the supported ones otherwise."""
    layout = LAYOUTS.get(model_type or "")
    if layout is None:
        raise unsupported_architecture(model_type, model)
    return layout


def settings(job: Job) -> dict[str, Any] | None:
    """The native description of a bottleneck job (None for other methods)."""
    method = job.method
    if not isinstance(method, Adapter):
        return None
    return {
        "reduction": method.reduction,
        "placement": method.placement,
        "nonlinearity": method.nonlinearity,
        "sublayers": list(method.sublayers),
        "seed": job.seed,
    }


def bottleneck_size(hidden_size: int, reduction: int, model: str = "the model") -> int:
    """hidden size // reduction; a JobError when that leaves no bottleneck."""
    size = hidden_size // reduction
    if size < 1:
        raise JobError(
            f"reduction={reduction} leaves no bottleneck: {model} has hidden size {hidden_size}",
            where="job.method.reduction",
            fix=f"use a reduction of at most {hidden_size} (16 is the default)",
        )
    return size


def adapter_parameters(hidden_size: int, size: int) -> int:
    """Weights and biases of one adapter: down (d → b) and up (b → d)."""
    return 2 * hidden_size * size + size + hidden_size


def trainable_parameters(config: dict[str, Any], native: dict[str, Any]) -> int:
    """How many parameters the adapters add (and train) for a model with this ``config.json``."""
    text = text_config(config)
    hidden, layers = int(text["hidden_size"]), int(text["num_hidden_layers"])
    size = bottleneck_size(hidden, native["reduction"])
    return layers * len(native["sublayers"]) * adapter_parameters(hidden, size)


def text_config(config: dict[str, Any]) -> dict[str, Any]:
    """The language model's part of a config.json (multimodal models nest it)."""
    nested = config.get("text_config")
    return nested if isinstance(nested, dict) and "hidden_size" in nested else config


def local_config(model: str) -> dict[str, Any] | None:
    """The model's config.json without network: a local folder's, or the Hugging Face cache's copy
    of a hub id; None when neither is here (the worker checks the architecture when it loads)."""
    path = Path(model).expanduser()
    candidate: Path | None = path / "config.json" if path.is_dir() else None
    if candidate is None and not path.exists():
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:  # pragma: no cover - installed with transformers
            return None
        try:
            cached = try_to_load_from_cache(model, "config.json")
        except ValueError:  # not a valid repo id
            return None
        candidate = Path(cached) if isinstance(cached, str) else None
    if candidate is None or not candidate.is_file():
        return None
    try:
        data = json.loads(candidate.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def check_config(config: dict[str, Any], native: dict[str, Any], model: str) -> None:
    """Plan-time checks on a known config.json: the architecture is mapped, the bottleneck fits."""
    layout_for(config.get("model_type"), model)
    text = text_config(config)
    if "hidden_size" in text:
        bottleneck_size(int(text["hidden_size"]), native["reduction"], model)


def base_reference(source: str) -> str:
    """What the saved config names as the base: a local folder's absolute path, else the hub id."""
    path = Path(source).expanduser()
    return str(path.resolve()) if path.exists() else source


def is_bottleneck_folder(path: str | Path) -> bool:
    return (Path(path) / CONFIG_FILE).is_file()


def read_config(path: str | Path) -> dict[str, Any]:
    """The saved ``bottleneck_config.json`` of an adapter folder."""
    file = Path(path) / CONFIG_FILE
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise JobError(
            f"cannot read the bottleneck adapter config {file}: {exc}",
            where="model.path",
            fix="point at a folder a bottleneck-adapter run wrote (it holds "
            f"{CONFIG_FILE} and {WEIGHTS_FILE})",
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise JobError(
            f"{file} is not a tunesdk bottleneck adapter config (format {FORMAT!r})",
            where="model.path",
            fix="point at a folder a bottleneck-adapter run wrote",
        )
    return data
