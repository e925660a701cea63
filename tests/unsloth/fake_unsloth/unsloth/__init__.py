"""A test-only stand-in for Unsloth, put on the worker's PYTHONPATH by tests/unsloth.

It implements the part of Unsloth's API that tunesdk calls (FastLanguageModel.from_pretrained,
get_peft_model, for_inference, and the save_pretrained_merged / save_pretrained_gguf methods
Unsloth attaches to models) with plain transformers + peft on the CPU, and appends every call with
its keyword arguments to the JSON-lines file named by $FAKE_UNSLOTH_CALLS, so tests can assert
exactly what tunesdk passed to Unsloth. It is not Unsloth: no kernels, no quantization.
"""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path
from typing import Any

__version__ = "2026.10.9"


def _record(call: str, **fields: Any) -> None:
    target = os.environ.get("FAKE_UNSLOTH_CALLS")
    if not target:
        return
    with open(target, "a", encoding="utf-8") as out:
        out.write(json.dumps({"call": call, **fields}, default=repr) + "\n")


# Real Unsloth must be imported before these to patch them; record what was already there.
_record(
    "import",
    already_imported=[m for m in ("transformers", "trl", "peft") if m in sys.modules],
    executable=sys.executable,
    tunesdk=getattr(sys.modules.get("tunesdk"), "__file__", None),
)


def _save_pretrained_merged(
    self: Any, save_directory: str, tokenizer: Any = None, save_method: str = "merged_16bit"
) -> None:
    _record("save_pretrained_merged", save_directory=save_directory, save_method=save_method)
    merged = self.merge_and_unload() if hasattr(self, "merge_and_unload") else self
    merged.save_pretrained(save_directory)
    if tokenizer is not None:
        tokenizer.save_pretrained(save_directory)


def _save_pretrained_gguf(
    self: Any,
    save_directory: str,
    tokenizer: Any = None,
    quantization_method: str = "fast_quantized",
) -> dict[str, Any]:
    _record(
        "save_pretrained_gguf",
        save_directory=save_directory,
        quantization_method=quantization_method,
    )
    folder = Path(f"{save_directory}_gguf")
    folder.mkdir(parents=True, exist_ok=True)
    gguf = folder / f"model.{quantization_method.upper()}.gguf"
    gguf.write_bytes(b"GGUF" + b"\x03\x00\x00\x00")  # the magic and version of a GGUF header only
    return {
        "save_directory": save_directory,
        "gguf_directory": str(folder),
        "gguf_files": [str(gguf)],
    }


def _attach_saving(model: Any) -> Any:
    model.save_pretrained_merged = types.MethodType(_save_pretrained_merged, model)
    model.save_pretrained_gguf = types.MethodType(_save_pretrained_gguf, model)
    return model


class FastLanguageModel:
    @staticmethod
    def from_pretrained(model_name: str, **kwargs: Any) -> tuple[Any, Any]:
        _record("from_pretrained", model_name=model_name, kwargs=kwargs)
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(model_name)
        if (path / "adapter_config.json").exists():  # Unsloth loads base + adapter from an adapter
            from peft import PeftConfig, PeftModel

            base = PeftConfig.from_pretrained(model_name).base_model_name_or_path
            model: Any = PeftModel.from_pretrained(
                AutoModelForCausalLM.from_pretrained(base), model_name
            )
        else:
            model = AutoModelForCausalLM.from_pretrained(model_name)
        tokenizer = AutoTokenizer.from_pretrained(model_name)
        return _attach_saving(model), tokenizer

    @staticmethod
    def get_peft_model(model: Any, **kwargs: Any) -> Any:
        _record("get_peft_model", kwargs=kwargs)
        from peft import LoraConfig, get_peft_model
        from transformers import set_seed

        set_seed(kwargs["random_state"])
        options = {
            k: v
            for k, v in kwargs.items()
            if k not in ("use_gradient_checkpointing", "random_state", "loftq_config")
        }
        config = LoraConfig(task_type="CAUSAL_LM", **options)
        return _attach_saving(get_peft_model(model, config))

    @staticmethod
    def for_inference(model: Any) -> Any:
        _record("for_inference")
        model.eval()
        return model
