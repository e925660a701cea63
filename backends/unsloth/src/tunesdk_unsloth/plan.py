"""The unsloth backend's plan: Unsloth's calls, the TRL config, one row per Job option.

The trainer options (epochs, batch, schedule, eval, checkpoints, data) run through the same TRL
config as the trl backend, so their rows are the trl backend's; the model, method and resource
rows are Unsloth's own.
"""

from __future__ import annotations

from typing import Any

from tunesdk.backend import OptionStatus, Plan, PlanRow, option_value
from tunesdk.errors import UnsupportedOption
from tunesdk.job import Job
from tunesdk.methods import LoRA, QLoRA
from tunesdk_trl.plan import build_plan as trl_plan
from tunesdk_unsloth import environment
from tunesdk_unsloth.native import (
    CALL_OPTIONS,
    DEFAULT_CHECKPOINTS_KEPT,
    LLAMA_LINEAR,
    TUNESDK_OPTIONS,
    native_for,
    single_process,
    unsupported_method,
)

BACKEND = "unsloth"
#: how each RL/preference objective runs through Unsloth (it patches TRL's trainers on import)
RL_NOTES = {
    "grpo": "GRPO with Unsloth's patched GRPOTrainer; completions are generated with "
    "transformers' generate (from_pretrained fast_inference stays False: no vLLM); "
    'backend_options={"unsloth": {"from_pretrained": {"fast_inference": True}}} asks for '
    "Unsloth's vLLM rollouts (needs vllm; not tested by tunesdk)",
    "kto": "KTO with Unsloth's patched KTOTrainer (tunesdk-trl's KTO data and config)",
    "orpo": "ORPO with Unsloth's patched ORPOTrainer (trl.experimental.orpo; tunesdk-trl's "
    "templated pairs and config)",
}
FP = "FastLanguageModel.from_pretrained."
GPM = "FastLanguageModel.get_peft_model."


class _Rows:
    """Unsloth's rows, replacing the trl backend's rows of the same options."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.user_set = job.options_set()
        self.rows: dict[str, PlanRow] = {}

    def add(
        self,
        option: str,
        status: OptionStatus,
        native: str | None = None,
        native_value: Any = None,
        reason: str | None = None,
    ) -> None:
        value = option_value(self.job, option)
        user_set = option in self.user_set
        if status == "mapped" and not user_set and native is None:
            status = "defaulted"
        self.rows[option] = PlanRow(
            option=option,
            value=value,
            status=status,
            native=native,
            native_value=value if native_value is None and status == "mapped" else native_value,
            reason=reason,
            user_set=user_set,
        )


def build_plan(job: Job, version: str | None) -> Plan:
    """The plan; raises JobError for methods Unsloth cannot train, UnsupportedOption in strict
    mode for options it cannot honour."""
    error = unsupported_method(job)
    if error is not None:
        raise error
    objective = job.infer_objective()
    native = native_for(job, objective, version=version)
    base = trl_plan(single_process(job).model_copy(update={"strict": False}), BACKEND)
    rows = _Rows(job)
    _model_rows(rows, native)
    _method_rows(rows, native)
    _resource_rows(rows, native)
    if job.n_checkpoints is None:
        rows.add(
            "n_checkpoints",
            "defaulted",
            reason=f"the last {DEFAULT_CHECKPOINTS_KEPT} checkpoints kept",
            native=native["config_class"] + ".save_total_limit",
            native_value=native["config"]["save_total_limit"],
        )
    config = native["config"]
    ordered = [rows.rows.pop(r.option, r) for r in base.rows] + list(rows.rows.values())
    ordered += _option_rows(job)
    notes = _notes(job, version, config)
    plan = Plan(
        backend=BACKEND,
        kind="local",
        model=job.model_for(BACKEND),
        objective=objective,
        native=native,
        native_format="json",
        rows=ordered,
        notes=notes,
    )
    if job.strict and plan.dropped:
        raise UnsupportedOption(
            BACKEND, {r.option: r.reason or "not supported" for r in plan.dropped}
        )
    return plan


def _model_rows(rows: _Rows, native: dict[str, Any]) -> None:
    fp, config = native["from_pretrained"], native["config"]
    prefix = native["config_class"] + "."
    micro, steps = config["per_device_train_batch_size"], config["gradient_accumulation_steps"]
    rows.add(
        "batch_size",
        "mapped",
        prefix + "per_device_train_batch_size × gradient_accumulation_steps",
        f"{micro} × {steps}",
        reason=f"one GPU: effective batch {micro * steps}",
    )
    rows.add(
        "max_seq_length",
        "mapped",
        FP + "max_seq_length",
        fp["max_seq_length"],
        reason="Unsloth's context length: prompt and completion must fit (GRPO bounds what it "
        "generates with max_completion_length)"
        if "max_length" not in config
        else f"also {prefix}max_length (the cut tunesdk applies to the data)",
    )
    rows.add(
        "seed",
        "mapped",
        FP + "random_state",
        fp["random_state"],
        reason="also get_peft_model(random_state) and the trainer's seed",
    )


def _method_rows(rows: _Rows, native: dict[str, Any]) -> None:
    job = rows.job
    method = job.method
    fp, peft = native["from_pretrained"], native["get_peft_model"]
    if peft is None:
        rows.add(
            "method",
            "mapped",
            FP + "full_finetuning",
            True,
            reason="full fine-tuning: every weight trains, no get_peft_model",
        )
        return
    rows.add("method", "mapped", "FastLanguageModel.get_peft_model", method.kind)
    if not isinstance(method, LoRA):  # only LoRA and QLoRA get an adapter
        return
    rows.add("method.r", "mapped", GPM + "r", peft["r"])
    rows.add("method.alpha", "mapped", GPM + "lora_alpha", peft["lora_alpha"])
    rows.add(
        "method.dropout",
        "mapped",
        GPM + "lora_dropout",
        peft["lora_dropout"],
        reason=None
        if method.dropout == 0
        else "Unsloth's fast LoRA kernels need dropout 0; other values train, more slowly",
    )
    expanded = isinstance(method.target_modules, str)
    rows.add(
        "method.target_modules",
        "mapped",
        GPM + "target_modules",
        peft["target_modules"],
        reason="'all-linear' expanded to the Llama-style projections "
        f"{', '.join(LLAMA_LINEAR)}: Unsloth wants explicit names"
        if expanded
        else None,
    )
    rows.add("method.use_rslora", "mapped", GPM + "use_rslora", peft["use_rslora"])
    if method.use_dora:
        rows.add(
            "method.use_dora",
            "mapped",
            GPM + "use_dora",
            True,
            reason="passed to LoraConfig; DoRA layers skip Unsloth's fast LoRA kernels",
        )
    else:
        rows.add("method.use_dora", "mapped", reason="plain LoRA")
    if isinstance(method, QLoRA):
        key = "load_in_4bit" if method.bits == 4 else "load_in_8bit"
        rows.add("method.bits", "mapped", FP + key, True)
        fixed = "Unsloth quantizes 4-bit weights as nf4 with double quantization, always"
        if method.bits == 8:
            rows.add("method.quant_type", "defaulted", reason="8-bit loading has no 4-bit type")
            rows.add("method.double_quant", "defaulted", reason="8-bit loading has no 4-bit type")
        else:
            rows.add(
                "method.quant_type",
                "mapped" if method.quant_type == "nf4" else "dropped",
                FP + "load_in_4bit" if method.quant_type == "nf4" else None,
                reason=fixed,
            )
            rows.add(
                "method.double_quant",
                "mapped" if method.double_quant else "dropped",
                FP + "load_in_4bit" if method.double_quant else None,
                reason=fixed,
            )
        if fp["dtype"] is not None and "method.compute_dtype" in rows.user_set:
            rows.add("method.compute_dtype", "mapped", FP + "dtype", fp["dtype"])
        else:
            rows.add(
                "method.compute_dtype",
                "defaulted",
                reason=_dtype_reason(fp["dtype"]),
                native=FP + "dtype",
                native_value=fp["dtype"],
            )


def _dtype_reason(dtype: str | None) -> str:
    if dtype is None:
        return "dtype=None: Unsloth computes in bf16 where the GPU supports it, else fp16"
    return f"follows resources.mixed_precision ({dtype})"


def _resource_rows(rows: _Rows, native: dict[str, Any]) -> None:
    job = rows.job
    resources = job.resources
    dtype = native["from_pretrained"]["dtype"]
    if resources.mixed_precision is None:
        rows.add(
            "resources.mixed_precision",
            "defaulted",
            reason=_dtype_reason(None)
            + f"; Unsloth's patched trainer then sets {native['config_class']} bf16/fp16 to match "
            "the model",
            native=FP + "dtype",
            native_value=None,
        )
    else:
        rows.add(
            "resources.mixed_precision",
            "mapped",
            FP + "dtype",
            dtype,
            reason=f"and {native['config_class']} bf16/fp16",
        )
    one_gpu = "this backend trains on one GPU; use backend='axolotl' or 'trl' for several"
    if resources.processes > 1:
        rows.add("resources.processes", "dropped", reason=one_gpu)
    else:
        rows.add("resources.processes", "mapped", reason="one process on one GPU")
    if resources.nodes > 1:
        rows.add("resources.nodes", "dropped", reason=one_gpu)
    else:
        rows.add("resources.nodes", "mapped")
    if resources.gpus is not None and resources.gpus > 1:
        rows.add("resources.gpus", "dropped", reason=one_gpu)
    else:
        rows.add(
            "resources.gpus",
            "defaulted",
            reason="the first visible GPU (set CUDA_VISIBLE_DEVICES to choose)",
        )
    if resources.strategy != "auto":
        rows.add("resources.strategy", "dropped", reason=one_gpu)
    else:
        rows.add("resources.strategy", "defaulted", reason="single GPU, no sharding")
    if resources.deepspeed_stage is not None:
        rows.add("resources.deepspeed_stage", "dropped", reason=one_gpu)


def _option_rows(job: Job) -> list[PlanRow]:
    """``backend_options.unsloth.*``: passed through unchanged, visibly."""
    result = []
    for key, value in job.backend_options.get(BACKEND, {}).items():
        if key in TUNESDK_OPTIONS:
            result.append(
                PlanRow(
                    option=f"backend_options.{key}",
                    value=value,
                    status="mapped",
                    native="UNSLOTH_FORCE_CPU" if value is True else None,
                    native_value="1 (when no GPU is found)" if value is True else None,
                    reason="read by tunesdk: without a GPU, train with Unsloth's CPU mode",
                    user_set=True,
                )
            )
            continue
        target = f"FastLanguageModel.{key}" if key in CALL_OPTIONS else key
        result.append(
            PlanRow(
                option=f"backend_options.{key}",
                value=value,
                status="mapped",
                native=target,
                native_value=value,
                reason="passed through unchanged",
                user_set=True,
            )
        )
    return result


def _notes(job: Job, version: str | None, config: dict[str, Any]) -> list[str]:
    micro, accumulation = (
        config["per_device_train_batch_size"],
        config["gradient_accumulation_steps"],
    )
    notes = [
        f"unsloth {version} installed"
        if version
        else "unsloth is not installed here: pip install 'tunesdk-unsloth[gpu]' on the GPU machine",
        "trains on the CPU with Unsloth's CPU mode when no GPU is found (allow_cpu)"
        if environment.allow_cpu(job)
        else "needs an NVIDIA/AMD/Intel GPU (or allow_cpu for Unsloth's CPU mode); the plan "
        "itself is computed without one",
        f"effective batch = {micro} per step × {accumulation} accumulation steps × 1 GPU "
        f"= {micro * accumulation}",
        'gradient checkpointing: use_gradient_checkpointing="unsloth" (offloaded activations)',
    ]
    objective = job.infer_objective()
    if objective == "sft":
        notes.insert(
            3,
            "loss on assistant tokens only unless train_on_inputs=True (tunesdk builds the "
            "labels, as in the trl backend)",
        )
    elif objective in RL_NOTES:
        notes.append(RL_NOTES[objective])
    if isinstance(job.method, LoRA) and isinstance(job.method.target_modules, str):
        notes.append(
            "target_modules 'all-linear' became "
            + ", ".join(LLAMA_LINEAR)
            + " (Llama/Mistral/Qwen/Gemma names); name modules explicitly for other architectures"
        )
    return notes
