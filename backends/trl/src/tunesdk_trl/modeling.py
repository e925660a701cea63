"""Loading base models and tokenizers, and building PEFT configs, with readable errors.

`ModelLoader` is the engine seam of the shared trainer glue (``tunesdk_trl.training``): it
loads the tokenizer and the model and makes the model trainable. This class does it with
transformers + PEFT (the trl backend); tunesdk-unsloth subclasses it to load with Unsloth's
``FastLanguageModel``. Everything else (data, trainer, events, checkpoints, the handle) is shared.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunesdk.base_tokenizer import load_base_tokenizer
from tunesdk.errors import BackendUnavailable, JobError
from tunesdk.job import Job
from tunesdk.methods import QLoRA

LINEAR_HINT = 'use "all-linear" or names from the list above'


def looks_like_path(model: str) -> bool:
    """Hub ids are ``name`` or ``org/name``; anything else with a slash is a local path."""
    return model.startswith(("/", ".", "~")) or model.count("/") > 1


def check_model_path(model: str) -> None:
    """A local model path must exist and hold a config.json (an HF id is left to the hub)."""
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise JobError(
                f"{path} has no config.json, so it is not a transformers model folder",
                where="job.model",
                fix="point at a folder written by save_pretrained(), or give a Hugging Face id",
            )
        return
    if looks_like_path(model):
        raise JobError(
            f"no model at {path}",
            where="job.model",
            fix="check the path, or give a Hugging Face model id such as Qwen/Qwen2.5-0.5B-Instruct",
        )
    from tunesdk.paths import require_model

    require_model(model)  # offline and not cached: fail now, not after the hub's retries


def load_tokenizer(source: str, chat_template: str | None = None) -> Any:
    """The base model's tokenizer (``chat_template`` replaces its template), padding with EOS
    when it has no pad token (TRL's collators pad)."""
    tokenizer = load_base_tokenizer(
        source, chat_template, fix="check the model id/path (and HF_TOKEN for gated models)"
    )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(source: str, quantization: dict[str, Any] | None = None, dtype: str = "auto") -> Any:
    """``AutoModelForCausalLM`` from ``source`` in ``dtype`` ("auto": the checkpoint's own);
    ``quantization`` are BitsAndBytesConfig kwargs."""
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"dtype": dtype if dtype == "auto" else getattr(torch, dtype)}
    if quantization is not None:
        kwargs["quantization_config"] = bnb_config(quantization)
        kwargs["device_map"] = {"": 0}
    try:
        return AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except OSError as exc:
        raise JobError(
            f"cannot load the model {source!r}: {str(exc).splitlines()[0]}",
            where="job.model",
            fix="check the model id/path (and HF_TOKEN for gated models)",
        ) from None


def require_cuda_bitsandbytes() -> None:
    """QLoRA's preconditions: bitsandbytes installed and a CUDA GPU visible."""
    import importlib.util

    import torch

    if not torch.cuda.is_available():
        raise BackendUnavailable(
            "trl",
            "QLoRA quantizes the base model with bitsandbytes, which needs a CUDA GPU; none is "
            "visible here",
            fix="run on a machine with an NVIDIA GPU, or use `method: lora` on this one",
        )
    if importlib.util.find_spec("bitsandbytes") is None:
        raise BackendUnavailable(
            "trl", "QLoRA needs bitsandbytes", fix="pip install 'tunesdk-trl[qlora]'"
        )


def bnb_config(kwargs: dict[str, Any]) -> Any:
    import torch
    from transformers import BitsAndBytesConfig

    values = dict(kwargs)
    if "bnb_4bit_compute_dtype" in values:
        values["bnb_4bit_compute_dtype"] = getattr(torch, values["bnb_4bit_compute_dtype"])
    return BitsAndBytesConfig(**values)


def linear_module_names(model: Any) -> list[str]:
    """Short names of the model's linear layers (what LoRA can target), output head excluded."""
    import torch

    names = set()
    for full_name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and not full_name.endswith("lm_head"):
            names.add(full_name.rsplit(".", 1)[-1])
    return sorted(names)


def check_target_modules(model: Any, target_modules: str | list[str]) -> None:
    """Every named LoRA target must be a module of ``model``."""
    if isinstance(target_modules, str):
        return
    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [name for name in target_modules if name not in present]
    if missing:
        raise JobError(
            f"target module(s) {missing} are not in the model; its linear layers are "
            f"{linear_module_names(model)}",
            where="job.method.target_modules",
            fix=LINEAR_HINT,
        )


def peft_config(native: dict[str, Any] | None) -> Any:
    """The PEFT config object the plan describes (``None`` for full fine-tuning)."""
    if native is None:
        return None
    import peft

    config_class = getattr(peft, native["class"])
    return config_class(**native["kwargs"])


def check_precision(precision: str | None) -> None:
    """bf16/fp16 training needs a CUDA GPU that supports it (transformers refuses otherwise)."""
    if precision not in ("bf16", "fp16"):
        return
    import torch

    if not torch.cuda.is_available():
        problem = "no CUDA GPU is visible"
    elif precision == "bf16" and not torch.cuda.is_bf16_supported():
        problem = "this GPU does not support bf16 (it needs Ampere or newer)"
    else:
        return
    raise JobError(
        f"resources.mixed_precision={precision!r} cannot be used: {problem}",
        where="job.resources.mixed_precision",
        fix='leave it unset (fp32) on CPUs; use "fp16" on pre-Ampere GPUs',
    )


def check_targets_on_meta(source: str, target_modules: list[str]) -> None:
    """Check LoRA target names on the model's skeleton on the meta device (no weights, no memory)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(source)
    with torch.device("meta"):
        skeleton = AutoModelForCausalLM.from_config(config)
    check_target_modules(skeleton, target_modules)


class ModelLoader:
    """Loads the tokenizer and the trainable model for the shared trainer glue.

    ``native`` is the backend's native description; the glue reads its ``trainer``,
    ``config_class``, ``config`` (the SFTConfig/DPOConfig kwargs) and ``final_model_dir`` keys, and
    this loader its ``model`` and ``peft`` keys (the trl backend's ``native_for`` shape).
    Subclasses override `preconditions`, `load_model`, `trainer_peft_config`, `trainer_class`,
    `source` and `trains_adapter` for another engine.
    """

    def __init__(self, native: dict[str, Any]) -> None:
        self.native = native

    @property
    def source(self) -> str:
        """The base model's id or local path."""
        return str(self.native["model"]["pretrained_model_name_or_path"])

    @property
    def trains_adapter(self) -> bool:
        """True when training writes an adapter (PEFT or bottleneck) rather than a full model."""
        return self.native["peft"] is not None or self.native.get("bottleneck") is not None

    def preconditions(self, job: Job) -> None:
        """Checks that need no data and no weights: model path, precision, QLoRA hardware."""
        check_model_path(self.source)
        check_precision(job.resources.mixed_precision)
        if isinstance(job.method, QLoRA):
            require_cuda_bitsandbytes()

    def load_tokenizer(self, job: Job) -> Any:
        return load_tokenizer(self.source, job.chat_template)

    def load_model(self, tokenizer: Any) -> Any:
        """The base model, quantized and prepared for k-bit training for QLoRA. The PEFT adapter
        itself is added by the trainer from `trainer_peft_config`."""
        quantization = self.native["model"].get("quantization_config")
        model = load_model(
            self.source,
            quantization["kwargs"] if quantization else None,
            self.native["model"].get("dtype", "auto"),
        )
        peft_native = self.native["peft"]
        if peft_native is not None and peft_native["class"] == "LoraConfig":
            check_target_modules(model, peft_native["kwargs"]["target_modules"])
        if quantization is not None:
            from peft import prepare_model_for_kbit_training

            model = prepare_model_for_kbit_training(model)
        if self.native.get("bottleneck") is not None:
            from tunesdk_trl import bottleneck_modules

            model = bottleneck_modules.prepare_for_training(
                model, self.native["bottleneck"], self.source
            )
        return model

    def trainer_peft_config(self) -> Any:
        """What the trainer's ``peft_config=`` gets (None when the model is already wrapped)."""
        return peft_config(self.native["peft"])

    def trainer_class(self, base: type) -> type:
        """The trainer class to build (``base``: TRL's SFTTrainer/DPOTrainer); bottleneck adapters
        get a subclass that checkpoints and resumes only the adapter weights."""
        if self.native.get("bottleneck") is None:
            return base
        from tunesdk_trl import bottleneck_modules

        return bottleneck_modules.trainer_class(base, self.source)
