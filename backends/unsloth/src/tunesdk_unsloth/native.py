"""Job → the exact Unsloth calls and TRL config: ``FastLanguageModel.from_pretrained`` and
``get_peft_model`` kwargs plus the TRL config kwargs (``SFTConfig``, ``DPOConfig``, ``GRPOConfig``,
``KTOConfig``, ``ORPOConfig``) of the shared trainer glue.

Pure: imports neither torch nor unsloth, so ``job.plan("unsloth")`` works on any machine. The
worker builds the real calls from this same dict, so the plan shows exactly what runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunesdk.errors import JobError
from tunesdk.job import Job
from tunesdk.methods import Adapter, Full, LoRA, PrefixTuning, QLoRA
from tunesdk_trl.plan import TRAINERS, output_root, trainer_kwargs

#: what "all-linear" becomes: Unsloth wants explicit names, and its fast kernels know these
LLAMA_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
#: keys of backend_options["unsloth"] that go to the Unsloth calls, not to the TRL config
CALL_OPTIONS = ("from_pretrained", "get_peft_model")
#: keys of backend_options["unsloth"] that tunesdk itself reads (see environment.allow_cpu)
TUNESDK_OPTIONS = ("allow_cpu",)
#: checkpoints kept when the job does not say (``n_checkpoints``), as on every local backend
DEFAULT_CHECKPOINTS_KEPT = 2
PRECISION_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "no": "float32"}


def unsupported_method(job: Job) -> JobError | None:
    """Unsloth trains LoRA (and DoRA/rsLoRA), QLoRA and full fine-tuning; nothing else."""
    method = job.method
    if isinstance(method, PrefixTuning | Adapter):
        what = "prefix tuning" if isinstance(method, PrefixTuning) else "bottleneck adapters"
        return JobError(
            f"{what} (method kind {method.kind!r}) cannot be trained by the unsloth backend: "
            "Unsloth trains LoRA, QLoRA and full fine-tuning only",
            where="job.method",
            fix="use `method: lora`, `qlora` or `full`, or the trl backend for prefix tuning",
        )
    return None


def target_modules(method: LoRA) -> list[str]:
    """Explicit module names: "all-linear" is expanded to the Llama-style projection list."""
    if isinstance(method.target_modules, str):
        return list(LLAMA_LINEAR)
    return list(method.target_modules)


def model_dtype(job: Job) -> str | None:
    """``from_pretrained(dtype=...)`` as a torch dtype name; None lets Unsloth pick (bf16 where
    the GPU supports it, else fp16)."""
    precision = job.resources.mixed_precision
    if precision is not None:
        return PRECISION_DTYPES[precision]
    if isinstance(job.method, QLoRA) and "method.compute_dtype" in job.options_set():
        return job.method.compute_dtype
    return None


def from_pretrained_kwargs(job: Job) -> dict[str, Any]:
    """Keyword arguments of ``FastLanguageModel.from_pretrained``."""
    method = job.method
    quantized = isinstance(method, QLoRA)
    kwargs: dict[str, Any] = {
        "model_name": job.model_for("unsloth"),
        "max_seq_length": job.max_seq_length,
        "dtype": model_dtype(job),
        # Unsloth defaults load_in_4bit to True: LoRA and full fine-tuning must say False
        "load_in_4bit": quantized and method.bits == 4,
        "load_in_8bit": quantized and method.bits == 8,
        "full_finetuning": isinstance(method, Full),
        "use_gradient_checkpointing": "unsloth",
        "random_state": job.seed,
    }
    kwargs.update(_call_options(job, "from_pretrained"))
    return kwargs


def get_peft_model_kwargs(job: Job) -> dict[str, Any] | None:
    """Keyword arguments of ``FastLanguageModel.get_peft_model`` (None for full fine-tuning)."""
    method = job.method
    if not isinstance(method, LoRA):
        return None
    alpha = method.alpha if method.alpha is not None else 2 * method.r
    kwargs: dict[str, Any] = {
        "r": method.r,
        "lora_alpha": int(alpha) if float(alpha).is_integer() else alpha,
        "lora_dropout": method.dropout,
        "target_modules": target_modules(method),
        "bias": "none",
        "use_gradient_checkpointing": "unsloth",
        "random_state": job.seed,
        "use_rslora": method.use_rslora,
        "loftq_config": None,
    }
    if method.use_dora:
        kwargs["use_dora"] = True  # a LoraConfig kwarg Unsloth passes through
    kwargs.update(_call_options(job, "get_peft_model"))
    return kwargs


def _call_options(job: Job, call: str) -> dict[str, Any]:
    value = job.backend_options.get("unsloth", {}).get(call, {})
    if not isinstance(value, dict):
        raise JobError(
            f"backend_options.unsloth.{call} must be a mapping of keyword arguments, "
            f"not {type(value).__name__}",
            where=f"job.backend_options.unsloth.{call}",
            fix=f'e.g. backend_options={{"unsloth": {{"{call}": {{"key": value}}}}}}',
        )
    return dict(value)


def single_process(job: Job) -> Job:
    """The job as Unsloth runs it: one process on one GPU (wider resources are dropped in the
    plan), without backend options (they are applied to the Unsloth calls separately)."""
    one = job.resources.model_copy(
        update={"processes": 1, "nodes": 1, "gpus": None, "strategy": "auto"}
    )
    return job.model_copy(update={"backend_options": {}, "resources": one})


def config_kwargs(job: Job, objective: str, outputs_dir: Path | None = None) -> dict[str, Any]:
    """The TRL config kwargs: the trl backend's (GRPO's knobs included), with unsloth's backend
    options."""
    kwargs = trainer_kwargs(single_process(job), objective, outputs_dir)
    if job.n_checkpoints is None:
        kwargs.setdefault("save_total_limit", DEFAULT_CHECKPOINTS_KEPT)
    options = job.backend_options.get("unsloth", {})
    skip = (*CALL_OPTIONS, *TUNESDK_OPTIONS)
    kwargs.update({k: v for k, v in options.items() if k not in skip})
    return kwargs


def native_for(
    job: Job, objective: str, outputs_dir: Path | None = None, *, version: str | None = None
) -> dict[str, Any]:
    """The whole native description, in the shape the shared trainer glue reads."""
    error = unsupported_method(job)
    if error is not None:
        raise error
    trainer, config_class = TRAINERS[objective]
    return {
        "unsloth_version": version,
        "from_pretrained": from_pretrained_kwargs(job),
        "get_peft_model": get_peft_model_kwargs(job),
        "trainer": trainer,
        "config_class": config_class,
        "config": config_kwargs(job, objective, outputs_dir),
        "final_model_dir": str(Path(output_root(job, outputs_dir)) / "model"),
    }
