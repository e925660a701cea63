"""The weights a finished emulated job serves from ``GET /v1/finetune/download``.

Together returns a zstd-compressed tar of the model folder. The emulator does the same, from a
folder it was given (for example a real PEFT adapter trained on a tiny local model, so the
downloaded copy can be loaded) or, by default, from a small generated folder that is well formed:
a PEFT ``adapter_config.json`` with an ``adapter_model.safetensors`` for LoRA jobs, a
``config.json`` with a ``model.safetensors`` of a tiny Llama for merged or full downloads.
"""

from __future__ import annotations

import io
import json
import math
import struct
import sys
import tarfile
from array import array
from pathlib import Path

import zstandard

TINY_HIDDEN = 16
TINY_VOCAB = 32
TINY_INTERMEDIATE = 32


def pack_folder(folder: Path, target: Path) -> Path:
    """Write ``folder``'s files as a ``.tar.zst`` archive at ``target`` (streamed to disk)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    compressor = zstandard.ZstdCompressor(level=3)
    with (
        target.open("wb") as raw,
        compressor.stream_writer(raw) as zst,
        tarfile.open(fileobj=zst, mode="w|") as tar,
    ):
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=str(path.relative_to(folder)))
    return target


def write_default_adapter(
    folder: Path, *, base_model: str, r: int, alpha: int, dropout: float, target_modules: list[str]
) -> Path:
    """A small but well-formed PEFT LoRA adapter folder (one layer, hidden size 16)."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base_model,
        "r": r,
        "lora_alpha": alpha,
        "lora_dropout": dropout,
        "target_modules": target_modules,
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
    }
    (folder / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n")
    tensors: dict[str, tuple[list[int], array]] = {}
    for module in target_modules:
        prefix = f"base_model.model.model.layers.0.{_parent(module)}.{module}"
        tensors[f"{prefix}.lora_A.weight"] = _tensor([r, TINY_HIDDEN], seed=len(tensors))
        tensors[f"{prefix}.lora_B.weight"] = _tensor([TINY_HIDDEN, r], seed=len(tensors), scale=0.0)
    write_safetensors(folder / "adapter_model.safetensors", tensors)
    return folder


def write_default_model(folder: Path, *, base_model: str) -> Path:
    """A tiny Llama checkpoint (one layer, hidden size 16): config.json + model.safetensors."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": TINY_HIDDEN,
        "intermediate_size": TINY_INTERMEDIATE,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 2,
        "vocab_size": TINY_VOCAB,
        "max_position_embeddings": 128,
        "rms_norm_eps": 1e-6,
        "torch_dtype": "float32",
        "tie_word_embeddings": False,
        "_name_or_path": base_model,
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    h, v, i = TINY_HIDDEN, TINY_VOCAB, TINY_INTERMEDIATE
    shapes = {
        "model.embed_tokens.weight": [v, h],
        "model.layers.0.self_attn.q_proj.weight": [h, h],
        "model.layers.0.self_attn.k_proj.weight": [h, h],
        "model.layers.0.self_attn.v_proj.weight": [h, h],
        "model.layers.0.self_attn.o_proj.weight": [h, h],
        "model.layers.0.mlp.gate_proj.weight": [i, h],
        "model.layers.0.mlp.up_proj.weight": [i, h],
        "model.layers.0.mlp.down_proj.weight": [h, i],
        "model.layers.0.input_layernorm.weight": [h],
        "model.layers.0.post_attention_layernorm.weight": [h],
        "model.norm.weight": [h],
        "lm_head.weight": [v, h],
    }
    tensors = {
        name: _tensor(
            shape,
            seed=n,
            scale=0.0 if len(shape) == 1 else 0.02,
            offset=1.0 if len(shape) == 1 else 0.0,
        )
        for n, (name, shape) in enumerate(shapes.items())
    }
    write_safetensors(folder / "model.safetensors", tensors)
    return folder


def write_safetensors(path: Path, tensors: dict[str, tuple[list[int], array]]) -> None:
    """Write float32 tensors in the safetensors format (8-byte header size, JSON header, data)."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    payload = io.BytesIO()
    for name, (shape, values) in tensors.items():
        start = payload.tell()
        payload.write(values.tobytes())
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [start, payload.tell()]}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + payload.getvalue())


def _tensor(
    shape: list[int], *, seed: int, scale: float = 0.02, offset: float = 0.0
) -> tuple[list[int], array]:
    count = math.prod(shape)
    values = array("f", (offset + scale * math.sin(seed * 131 + k * 0.7) for k in range(count)))
    if sys.byteorder == "big":  # safetensors stores little-endian
        values.byteswap()
    return shape, values


def _parent(module: str) -> str:
    return "mlp" if module in {"gate_proj", "up_proj", "down_proj"} else "self_attn"


__all__ = ["pack_folder", "write_default_adapter", "write_default_model", "write_safetensors"]
