"""Using trained models: load, chat, generate, merge (transformers + PEFT)."""

from __future__ import annotations

import functools
import inspect
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
        honour_prefix(model)
    else:
        model = AutoModelForCausalLM.from_pretrained(str(path))
    tokenizer_source = path if (path / "tokenizer_config.json").exists() else handle.base_model
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_source))
    model.eval()
    return model, tokenizer


def is_prefix_tuned(model: Any) -> bool:
    """Whether ``model`` is a PEFT model whose active adapter is prefix tuning."""
    config = getattr(model, "active_peft_config", None)
    peft_type = getattr(config, "peft_type", None)  # PeftType is a str enum
    return peft_type == "PREFIX_TUNING"


def _generate_takes_cache(base: Any) -> bool:
    """Whether the installed transformers names generation's KV cache ``cache`` (it renamed
    ``past_key_values``, which PEFT 0.21's prefix injection still writes)."""
    return "cache" in inspect.signature(base.prepare_inputs_for_generation).parameters


def honour_prefix(model: Any) -> Any:
    """Make ``model.generate`` decode with a prefix-tuned PEFT model's prefix; returns ``model``.

    PEFT 0.21.2 injects the prefix in ``prepare_inputs_for_generation`` under
    ``past_key_values``; transformers 5.24's generate passes its own, empty ``cache`` and the
    model ignores ``past_key_values`` when both come, so every token came from the base model.
    The instance's ``generate`` becomes `prefix_generate`, which hands generate a ``cache``
    already holding the prefix. Other models, and transformers that still use
    ``past_key_values`` (PEFT's own path was written for those), are left as they are.
    """
    if is_prefix_tuned(model) and _generate_takes_cache(model.get_base_model()):
        model.generate = functools.partial(prefix_generate, model)
    return model


def prefix_generate(
    model: Any,
    inputs: Any = None,
    *,
    input_ids: Any = None,
    attention_mask: Any = None,
    **kwargs: Any,
) -> Any:
    """``generate`` for a prefix-tuned PEFT ``model``: the base model's generate, started from a
    ``DynamicCache`` holding the prefix (PEFT's ``get_prompt``) and an attention mask that
    covers it, so the prompt sits after the virtual tokens exactly as in PEFT's forward pass
    (the one training optimized). Takes what ``generate`` takes."""
    import torch

    ids = input_ids if input_ids is not None else inputs
    if ids is None:
        raise ValueError("generate() on a prefix-tuned model needs input_ids (not inputs_embeds)")
    base = model.get_base_model()
    config = kwargs.get("generation_config") or base.generation_config
    if kwargs.get("use_cache", config.use_cache) is False:
        raise ValueError("prefix tuning generates from its KV cache: leave use_cache on")
    implementation = kwargs.get("cache_implementation", config.cache_implementation)
    if implementation is not None:  # generate refuses a cache_implementation beside a cache
        raise ValueError(
            f"prefix tuning generates from a DynamicCache holding its prefix; "
            f"cache_implementation={implementation!r} cannot start from it: leave it unset"
        )
    # generate repeats the inputs (not a cache it is given) for beams and returned sequences
    beams = kwargs.get("num_beams", config.num_beams) or 1
    returned = kwargs.get("num_return_sequences", config.num_return_sequences) or 1
    if attention_mask is None:
        attention_mask = torch.ones_like(ids)
    with torch.no_grad():
        cache = model.get_prompt(batch_size=ids.shape[0] * max(beams, returned))
    virtual = attention_mask.new_ones((ids.shape[0], model.active_peft_config.num_virtual_tokens))
    mask = torch.cat([virtual, attention_mask], dim=1)
    return base.generate(ids, attention_mask=mask, cache=cache, **kwargs)


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
