"""Decoder-only transformer shapes: from a local ``config.json``, a built-in table, or a size.

Parameter counts are computed from the shapes (embeddings, attention with grouped-query heads,
gated MLP, norms, untied LM head), so LoRA parameter counts follow from the same numbers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from tunesdk.errors import JobError

#: the linear layers of one decoder block, in the names Llama-style models use
BLOCK_LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
SUPPORTED_TYPES = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2")


class Architecture(BaseModel):
    """The shapes that decide parameter counts and activation sizes."""

    model_config = ConfigDict(frozen=True)

    model_type: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    tie_word_embeddings: bool = False
    attention_bias: bool = False
    norms_per_layer: int = 2
    qk_norm: bool = False

    def hf_config_kwargs(self) -> dict[str, Any]:
        """These shapes as transformers config fields:
        ``AutoConfig.for_model(arch.model_type, **arch.hf_config_kwargs())``."""
        return {
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_layers,
            "num_attention_heads": self.num_heads,
            "num_key_value_heads": self.num_kv_heads,
            "head_dim": self.head_dim,
            "tie_word_embeddings": self.tie_word_embeddings,
        }

    @property
    def q_dim(self) -> int:
        return self.num_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.num_kv_heads * self.head_dim

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in_features, out_features) of each linear layer in one block."""
        h, i = self.hidden_size, self.intermediate_size
        return {
            "q_proj": (h, self.q_dim),
            "k_proj": (h, self.kv_dim),
            "v_proj": (h, self.kv_dim),
            "o_proj": (self.q_dim, h),
            "gate_proj": (h, i),
            "up_proj": (h, i),
            "down_proj": (i, h),
        }

    @property
    def linear_params(self) -> int:
        """Weights of every block linear layer (what 4-bit quantization compresses)."""
        per_layer = sum(a * b for a, b in self.linear_shapes().values())
        return per_layer * self.num_layers

    @property
    def params(self) -> int:
        """Total parameters, counted the way ``sum(p.numel() for p in model.parameters())`` does."""
        h = self.hidden_size
        bias = (self.q_dim + 2 * self.kv_dim) if self.attention_bias else 0
        norms = self.norms_per_layer * h + (2 * self.head_dim if self.qk_norm else 0)
        blocks = self.linear_params + self.num_layers * (bias + norms)
        embeddings = self.vocab_size * h
        head = 0 if self.tie_word_embeddings else self.vocab_size * h
        return embeddings + blocks + h + head

    def lora_params(self, r: int, targets: list[str] | str, *, dora: bool = False) -> int:
        """Trainable parameters LoRA rank ``r`` adds: r·(in + out) per adapted linear layer.

        ``targets`` is ``"all-linear"`` (every block linear layer, not the LM head, as PEFT does) or
        module names; DoRA adds one magnitude per output feature.
        """
        shapes = self.linear_shapes()
        names = list(BLOCK_LINEARS) if targets == "all-linear" else list(targets)
        total = 0
        for name in names:
            if name == "lm_head":
                total += r * (self.hidden_size + self.vocab_size) + (self.vocab_size if dora else 0)
                continue
            if name not in shapes:
                raise JobError(
                    f"LoRA target module {name!r} is not a linear layer of a {self.model_type} block",
                    where="job.method.target_modules",
                    fix=f'use "all-linear" or names from {", ".join(BLOCK_LINEARS)}, lm_head',
                )
            fan_in, fan_out = shapes[name]
            total += self.num_layers * (r * (fan_in + fan_out) + (fan_out if dora else 0))
        return total


def _arch(
    model_type: str, v: int, h: int, i: int, layers: int, heads: int, kv: int, **kw: Any
) -> Architecture:
    return Architecture(
        model_type=model_type,
        vocab_size=v,
        hidden_size=h,
        intermediate_size=i,
        num_layers=layers,
        num_heads=heads,
        num_kv_heads=kv,
        head_dim=kw.pop("head_dim", h // heads),
        **kw,
    )


_QWEN = {"attention_bias": True}
_GEMMA2 = {"norms_per_layer": 4, "tie_word_embeddings": True, "head_dim": 256}

#: Published configs (config.json on the Hugging Face Hub) of common base models. Keys are the
#: normalized ids (see ``normalize_model_id``); instruct/chat variants share their base's shapes.
KNOWN: dict[str, Architecture] = {
    "llama-3.2-1b": _arch("llama", 128256, 2048, 8192, 16, 32, 8, tie_word_embeddings=True),
    "llama-3.2-3b": _arch("llama", 128256, 3072, 8192, 28, 24, 8, tie_word_embeddings=True),
    "llama-3-8b": _arch("llama", 128256, 4096, 14336, 32, 32, 8),
    "llama-3-70b": _arch("llama", 128256, 8192, 28672, 80, 64, 8),
    "qwen2.5-0.5b": _arch("qwen2", 151936, 896, 4864, 24, 14, 2, tie_word_embeddings=True, **_QWEN),
    "qwen2.5-1.5b": _arch(
        "qwen2", 151936, 1536, 8960, 28, 12, 2, tie_word_embeddings=True, **_QWEN
    ),
    "qwen2.5-3b": _arch("qwen2", 151936, 2048, 11008, 36, 16, 2, tie_word_embeddings=True, **_QWEN),
    "qwen2.5-7b": _arch("qwen2", 152064, 3584, 18944, 28, 28, 4, **_QWEN),
    "qwen2.5-14b": _arch("qwen2", 152064, 5120, 13824, 48, 40, 8, **_QWEN),
    "qwen2.5-32b": _arch("qwen2", 152064, 5120, 27648, 64, 40, 8, **_QWEN),
    "qwen2.5-72b": _arch("qwen2", 152064, 8192, 29568, 80, 64, 8, **_QWEN),
    "mistral-7b-v0.1": _arch("mistral", 32000, 4096, 14336, 32, 32, 8),
    "mistral-7b-v0.3": _arch("mistral", 32768, 4096, 14336, 32, 32, 8),
    "gemma-2-2b": _arch("gemma2", 256000, 2304, 9216, 26, 8, 4, **_GEMMA2),
    "gemma-2-9b": _arch("gemma2", 256000, 3584, 14336, 42, 16, 8, **_GEMMA2),
}
_ALIASES = {
    "llama-3.1-8b": "llama-3-8b",
    "llama-3.1-70b": "llama-3-70b",
    "llama-3.3-70b": "llama-3-70b",
    "mistral-7b-v0.2": "mistral-7b-v0.1",  # same shapes as v0.1 (32k vocabulary)
    "mistral-7b": "mistral-7b-v0.1",
}


def normalize_model_id(model: str) -> str:
    """``meta-llama/Meta-Llama-3.1-8B-Instruct`` → ``llama-3.1-8b`` (table key)."""
    name = model.rstrip("/").rsplit("/", 1)[-1].lower()
    name = name.removeprefix("meta-")
    name = re.sub(r"-(instruct|it|chat|reference|hf|base)(?=-|$)", "", name)
    return _ALIASES.get(name, name)


def parse_param_count(value: str | int | float) -> int:
    """``"7B"`` → 7_000_000_000, ``"500M"`` → 500_000_000; numbers pass through."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value <= 0:
            raise JobError(f"params={value!r} is not positive", fix='give e.g. params="7B"')
        return int(value)
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmMbBtT]?)\s*", str(value))
    if not match:
        raise JobError(
            f"cannot read params={value!r}",
            fix='give a parameter count like "7B", "1.5B", "500M" or 7000000000',
        )
    scale = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "t": 10**12}[match.group(2).lower()]
    return int(float(match.group(1)) * scale)


def from_config(config: dict[str, Any], *, where: str) -> Architecture:
    """The shapes of a Hugging Face ``config.json`` (Llama, Mistral, Qwen2/3, Gemma 1/2)."""
    model_type = str(config.get("model_type", ""))
    if config.get("text_config") or any(
        key in config for key in ("num_experts", "num_local_experts", "n_routed_experts")
    ):
        raise JobError(
            f"the {model_type or 'model'} config is multimodal or mixture-of-experts, which the "
            "memory estimate does not model",
            where=where,
            fix='pass the total parameter count, e.g. job.estimate(params="47B") or --params 47B',
        )
    if model_type not in SUPPORTED_TYPES:
        raise JobError(
            f"model_type {model_type!r} is not one the memory estimate knows "
            f"({', '.join(SUPPORTED_TYPES)})",
            where=where,
            fix='pass the parameter count instead, e.g. job.estimate(params="7B") or --params 7B',
        )
    try:
        hidden = int(config["hidden_size"])
        heads = int(config["num_attention_heads"])
        return Architecture(
            model_type=model_type,
            vocab_size=int(config["vocab_size"]),
            hidden_size=hidden,
            intermediate_size=int(config["intermediate_size"]),
            num_layers=int(config["num_hidden_layers"]),
            num_heads=heads,
            num_kv_heads=int(config.get("num_key_value_heads") or heads),
            head_dim=int(config.get("head_dim") or hidden // heads),
            tie_word_embeddings=bool(
                config.get("tie_word_embeddings", model_type in ("gemma", "gemma2"))
            ),
            attention_bias=bool(config.get("attention_bias", model_type == "qwen2")),
            norms_per_layer=4 if model_type == "gemma2" else 2,
            qk_norm=model_type == "qwen3",
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise JobError(
            f"config.json lacks or mangles {exc}",
            where=where,
            fix='check the config, or pass the parameter count: job.estimate(params="7B")',
        ) from None


class ResolvedArchitecture(BaseModel):
    """An architecture plus where it came from (shown in every estimate)."""

    architecture: Architecture
    params: int
    source: str


def resolve_architecture(
    model: str, params: str | int | float | None = None
) -> ResolvedArchitecture:
    """Shapes for ``model``: its local ``config.json``, the built-in table, or ``params``.

    With ``params`` alone the layer shapes are borrowed from the built-in model closest in size;
    the total parameter count is the one given.
    """
    if params is not None:
        count = parse_param_count(params)
        key, donor = min(KNOWN.items(), key=lambda item: abs(item[1].params - count))
        return ResolvedArchitecture(
            architecture=donor,
            params=count,
            source=f"params={params!r} given; layer shapes assumed like {key} (closest in size)",
        )
    config_path = Path(model).expanduser() / "config.json"
    if config_path.is_file():
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise JobError(
                f"cannot read {config_path} ({type(exc).__name__})",
                fix="check the file, or pass the parameter count: job.estimate(params='7B')",
            ) from None
        arch = from_config(config, where=str(config_path))
        return ResolvedArchitecture(architecture=arch, params=arch.params, source=str(config_path))
    key = normalize_model_id(model)
    if key in KNOWN:
        arch = KNOWN[key]
        return ResolvedArchitecture(
            architecture=arch, params=arch.params, source=f"built-in table ({key})"
        )
    raise JobError(
        f"unknown model {model!r}: no local config.json and not in the built-in table",
        where="job.model",
        fix='pass the parameter count, e.g. job.estimate(params="7B") or `tunesdk estimate '
        "JOB --params 7B`, or point job.model at a local folder with config.json",
    )
