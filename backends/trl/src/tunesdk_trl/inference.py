"""Using trained models: load, chat, generate, merge (transformers + PEFT)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunesdk.errors import JobError
from tunesdk.models import LocalModel, Messages
from tunesdk.quiet import quiet_hf  # no loading bars or deprecation warnings in chat/load/merge
from tunesdk_trl import bottleneck

DEFAULT_MAX_NEW_TOKENS = 64
_cache: dict[str, tuple[Any, Any]] = {}
Loader = Callable[[LocalModel], tuple[Any, Any]]


@quiet_hf()
def load(handle: LocalModel) -> tuple[Any, Any]:
    """(model, tokenizer): a PEFT model for PEFT adapters, the base with its bottleneck adapters
    for those, a plain causal LM otherwise. Eval mode."""
    path = Path(handle.path)
    if not path.exists():
        raise JobError(f"no model at {path}", where="model.path", fix="check the path")
    handle.require_base()  # offline and not cached: fail now, not after the hub's retries
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if handle.kind == "adapter" and bottleneck.is_bottleneck_folder(path):
        from tunesdk_trl import bottleneck_modules

        model: Any = bottleneck_modules.load(path, handle.base_model)
    elif handle.kind == "adapter":
        from peft import PeftConfig, PeftModel

        # the handle's base model wins: the adapter may have been trained from a since-moved path
        base = handle.base_model or PeftConfig.from_pretrained(str(path)).base_model_name_or_path
        model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), str(path))
    else:
        model = AutoModelForCausalLM.from_pretrained(str(path))
    tokenizer_source = path if (path / "tokenizer_config.json").exists() else handle.base_model
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_source))
    model.eval()
    return model, tokenizer


@quiet_hf()  # also another engine's loader (Unsloth's)
def _cached(handle: LocalModel, loader: Loader | None = None) -> tuple[Any, Any]:
    """The loaded (model, tokenizer), once per handle and loader (another engine may load its
    own way, e.g. Unsloth's fast inference)."""
    loader = loader or load
    key = f"{loader.__module__}.{loader.__qualname__}:{handle.kind}:{Path(handle.path).resolve()}"
    if key not in _cache:
        _cache[key] = loader(handle)
    return _cache[key]


@quiet_hf()
def _generate(
    model: Any, tokenizer: Any, inputs: dict[str, Any], generation: dict[str, Any]
) -> str:
    import torch

    options = {"max_new_tokens": DEFAULT_MAX_NEW_TOKENS, "do_sample": False, **generation}
    options.setdefault("pad_token_id", tokenizer.pad_token_id or tokenizer.eos_token_id)
    inputs = {key: value.to(model.device) for key, value in inputs.items()}
    with torch.no_grad():
        output = model.generate(**inputs, **options)
    new_tokens = output[0, inputs["input_ids"].shape[1] :]
    return str(tokenizer.decode(new_tokens, skip_special_tokens=True))


def chat(
    handle: LocalModel, messages: Messages, *, loader: Loader | None = None, **generation: Any
) -> str:
    """The assistant's reply to ``messages`` (the model's chat template; greedy unless told)."""
    model, tokenizer = _cached(handle, loader)
    inputs = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    return _generate(model, tokenizer, dict(inputs), generation)


def generate(
    handle: LocalModel, prompt: str, *, loader: Loader | None = None, **generation: Any
) -> str:
    """The continuation of a raw ``prompt`` (no chat template)."""
    model, tokenizer = _cached(handle, loader)
    return _generate(model, tokenizer, dict(tokenizer(prompt, return_tensors="pt")), generation)


def check_mergeable(handle: LocalModel) -> None:
    """Only LoRA adapters can be folded into their base weights."""
    handle.check_mergeable()  # bottleneck adapters add layers: refused whichever engine loads them
    if handle.kind != "adapter":
        raise JobError(
            f"{handle.path} is already a full model (kind={handle.kind!r}); there is nothing to merge",
            where="model.merge",
            fix="use the model as it is",
        )
    config = json.loads((Path(handle.path) / "adapter_config.json").read_text(encoding="utf-8"))
    if config.get("peft_type") != "LORA":
        raise JobError(
            f"a {config.get('peft_type')} adapter cannot be merged into the base weights; only "
            "LoRA adapters can",
            where="model.merge",
            fix="load it with model.load() and use it as an adapter",
        )


@quiet_hf()
def merge(handle: LocalModel, path: Path, engine: str = "trl") -> LocalModel:
    """Fold a LoRA adapter into its base weights and save a standalone model at ``path``."""
    check_mergeable(handle)
    model, tokenizer = load(handle)
    merged = model.merge_and_unload()
    target = Path(path)
    merged.save_pretrained(str(target))
    tokenizer.save_pretrained(str(target))
    result = LocalModel(
        path=str(target.resolve()), base_model=handle.base_model, kind="merged", engine=engine
    )
    result.save_metadata()
    return result
