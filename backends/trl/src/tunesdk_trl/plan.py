"""Job → the exact TRL/PEFT arguments (``SFTConfig``/``DPOConfig`` kwargs and the PEFT config).

Pure: imports neither torch nor TRL, so ``job.plan("trl")`` is instant. ``train`` builds the real
objects from this same dict, so the plan shows exactly what runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunesdk import grpo
from tunesdk.backend import Plan, PlanBuilder
from tunesdk.errors import JobError
from tunesdk.job import Job
from tunesdk.methods import Adapter, Full, LoRA, PrefixTuning, QLoRA
from tunesdk_trl import bottleneck, launch, rl

TRAINERS = {
    "sft": ("SFTTrainer", "SFTConfig"),
    "dpo": ("DPOTrainer", "DPOConfig"),
    **{objective: names[:2] for objective, names in rl.RL_TRAINERS.items()},
}
CHECKPOINTS_DIR = "checkpoints"


#: checkpoints kept when the job does not set n_checkpoints (the newest ones)
DEFAULT_KEPT_CHECKPOINTS = 2


def bottleneck_native(job: Job) -> dict[str, Any] | None:
    """The bottleneck adapter settings (None for other methods), checked against the model's
    config.json where it is readable without network (a local folder or the HF cache)."""
    native = bottleneck.settings(job)
    if native is None:
        return None
    if job.resources.strategy in ("fsdp", "deepspeed"):
        raise JobError(
            f"bottleneck adapters train on one process or with DDP, not with "
            f"resources.strategy={job.resources.strategy!r}",
            where="job.resources.strategy",
            fix='use strategy="ddp" (or "auto"): the adapters are small, so sharding saves little',
        )
    model = job.model_for("trl")
    config = bottleneck.local_config(model)
    if config is not None:
        bottleneck.check_config(config, native, model)
    return native


def peft_native(job: Job) -> dict[str, Any] | None:
    """``{"class": <PEFT config class>, "kwargs": {...}}``, or None for full fine-tuning."""
    method = job.method
    if isinstance(method, LoRA):  # QLoRA too: the adapter is the same
        return {
            "class": "LoraConfig",
            "kwargs": {
                "task_type": "CAUSAL_LM",
                "r": method.r,
                "lora_alpha": _whole(method.alpha),
                "lora_dropout": method.dropout,
                "target_modules": method.target_modules,
                "use_dora": method.use_dora,
                "use_rslora": method.use_rslora,
                "bias": "none",
            },
        }
    if isinstance(method, PrefixTuning):
        return {
            "class": "PrefixTuningConfig",
            "kwargs": {"task_type": "CAUSAL_LM", "num_virtual_tokens": method.num_virtual_tokens},
        }
    return None  # full fine-tuning, or bottleneck adapters (tunesdk's own, not PEFT)


def _whole(value: float | None) -> float | int | None:
    """16.0 → 16: PEFT types lora_alpha as an int, and the plan should read naturally."""
    return int(value) if value is not None and float(value).is_integer() else value


def quantization_native(method: QLoRA) -> dict[str, Any]:
    """``BitsAndBytesConfig`` kwargs for a QLoRA job."""
    if method.bits == 8:
        return {"load_in_8bit": True}
    return {
        "load_in_4bit": True,
        "bnb_4bit_quant_type": method.quant_type,
        "bnb_4bit_use_double_quant": method.double_quant,
        "bnb_4bit_compute_dtype": method.compute_dtype,
    }


def has_eval(job: Job) -> bool:
    return job.eval_data is not None or job.eval_split is not None


def output_root(job: Job, outputs_dir: Path | None) -> str:
    """Where checkpoints and the final model go: ``job.output_dir`` or the run's outputs folder."""
    if job.output_dir:
        return str(Path(job.output_dir).expanduser())
    return str(outputs_dir) if outputs_dir is not None else "<run folder>/outputs"


def trainer_kwargs(job: Job, objective: str, outputs_dir: Path | None = None) -> dict[str, Any]:
    """Keyword arguments of ``SFTConfig`` or ``DPOConfig`` for this job."""
    kwargs: dict[str, Any] = {
        "output_dir": str(Path(output_root(job, outputs_dir)) / CHECKPOINTS_DIR),
        "num_train_epochs": job.epochs,
        "max_steps": job.max_steps if job.max_steps is not None else -1,
        "learning_rate": job.effective_learning_rate,
        "per_device_train_batch_size": job.effective_micro_batch_size,
        "per_device_eval_batch_size": job.effective_micro_batch_size,
        # batch_size is the effective batch over every rank
        "gradient_accumulation_steps": launch.gradient_accumulation(job),
        # transformers 5 has no warmup_ratio: a float below 1 is read as a fraction of all steps
        "warmup_steps": job.warmup_ratio,
        "lr_scheduler_type": job.lr_scheduler,
        "weight_decay": job.weight_decay,
        "max_grad_norm": job.max_grad_norm,
        "max_length": job.max_seq_length,
        "seed": job.seed,
        "data_seed": job.seed,
        "logging_steps": 1,
        "include_num_input_tokens_seen": "non_padding",
        "report_to": list(job.report_to) or "none",
        "save_strategy": "epoch",
        "save_total_limit": DEFAULT_KEPT_CHECKPOINTS,
        "disable_tqdm": True,
    }
    if job.n_checkpoints is not None:
        kwargs["save_strategy"] = "steps"
        kwargs["save_steps"] = 1.0 / job.n_checkpoints if job.n_checkpoints > 1 else 1.0 - 1e-9
        kwargs["save_total_limit"] = job.n_checkpoints
    if has_eval(job):
        if job.eval_steps is not None:
            kwargs["eval_strategy"] = "steps"
            kwargs["eval_steps"] = job.eval_steps
        else:
            kwargs["eval_strategy"] = "epoch"
    # TRL turns bf16 on by default, which fails on CPUs and old GPUs: precision is explicit here
    precision = job.resources.mixed_precision
    kwargs["bf16"] = precision == "bf16"
    kwargs["fp16"] = precision == "fp16"
    if objective == "sft":
        kwargs["packing"] = job.packing
    elif objective == "grpo":
        del kwargs["max_length"]  # GRPO bounds what it generates: max_completion_length
        kwargs.update(rl.grpo_kwargs(job))
    else:
        kwargs["beta"] = job.beta
    if isinstance(job.method, PrefixTuning):
        # the prefix travels as past_key_values, which gradient checkpointing (use_cache=False) drops
        kwargs["gradient_checkpointing"] = False
        if objective == "sft":
            kwargs["packing"] = False  # nor do they fit packed (padding-free) batches
    options = job.backend_options.get("trl", {})
    kwargs.update({k: v for k, v in options.items() if k != launch.LAUNCH_OPTIONS_KEY})
    return kwargs


def native_for(job: Job, objective: str, outputs_dir: Path | None = None) -> dict[str, Any]:
    """The whole native description: model loading, trainer, config kwargs, PEFT config."""
    trainer, config_class = TRAINERS[objective]
    model: dict[str, Any] = {
        "pretrained_model_name_or_path": job.model_for("trl"),
        # full fine-tuning keeps fp32 master weights (the optimizer's updates would vanish in bf16
        # rounding); bf16/fp16 compute comes from mixed_precision. Adapters train in fp32 anyway
        # (PEFT), so their frozen base stays in the checkpoint's own dtype.
        "dtype": "float32" if isinstance(job.method, Full) else "auto",
    }
    if isinstance(job.method, QLoRA):
        model["quantization_config"] = {
            "class": "BitsAndBytesConfig",
            "kwargs": quantization_native(job.method),
        }
    return {
        "model": model,
        "trainer": trainer,
        "trainer_module": rl.RL_TRAINERS[objective][2] if objective in rl.RL_TRAINERS else "trl",
        "config_class": config_class,
        "config": trainer_kwargs(job, objective, outputs_dir),
        "peft": peft_native(job),
        "bottleneck": bottleneck_native(job),
        "final_model_dir": str(Path(output_root(job, outputs_dir)) / "model"),
        "launch": {
            "command": launch.launch_command(job, run_dir(outputs_dir)),
            "accelerate_config": launch.accelerate_config(job),
        },
    }


def run_dir(outputs_dir: Path | None) -> str:
    """The run folder (the outputs folder's parent), or a placeholder while planning."""
    return str(outputs_dir.parent) if outputs_dir is not None else "<run folder>"


def build_plan(job: Job, backend: str = "trl") -> Plan:
    """The trl backend's plan: native kwargs plus one row per Job option."""
    builder = PlanBuilder(job, backend, "local")
    objective = builder.objective
    native = native_for(job, objective)
    config = native["config"]
    builder.native = native
    builder.native_format = "json"
    trainer, config_class = TRAINERS[objective]
    prefix = f"{config_class}."

    builder.mapped("objective", "trainer", trainer)
    method = job.method
    peft = native["peft"]
    if isinstance(method, Adapter):
        _bottleneck_rows(builder, method, native["bottleneck"])
    elif peft is None:
        builder.mapped("method", "peft", None, reason="full fine-tuning: every weight trains")
    else:
        builder.mapped("method", "peft.class", peft["class"])
    if isinstance(method, LoRA):
        lora = {
            "r": "r",
            "alpha": "lora_alpha",
            "dropout": "lora_dropout",
            "target_modules": "target_modules",
            "use_dora": "use_dora",
            "use_rslora": "use_rslora",
        }
        for field, key in lora.items():
            builder.mapped(f"method.{field}", f"LoraConfig.{key}", peft["kwargs"][key])
    if isinstance(method, QLoRA):
        quant = quantization_native(method)
        for field in ("bits", "quant_type", "double_quant", "compute_dtype"):
            builder.mapped(f"method.{field}", "BitsAndBytesConfig", quant)
        builder.notes.append(
            "QLoRA loads the base model in 4/8 bits with bitsandbytes: needs a CUDA GPU"
        )
    if isinstance(method, PrefixTuning):
        builder.mapped("method.num_virtual_tokens", "PrefixTuningConfig.num_virtual_tokens")
    if isinstance(method, Full):
        builder.notes.append(
            "full fine-tuning loads the weights in float32 (fp32 master weights for the "
            "optimizer); set resources.mixed_precision='bf16' for bf16 compute on a GPU"
        )

    builder.mapped("epochs", prefix + "num_train_epochs", config["num_train_epochs"])
    if job.max_steps is not None:
        builder.mapped("max_steps", prefix + "max_steps", config["max_steps"])
    builder.mapped("learning_rate", prefix + "learning_rate", config["learning_rate"])
    builder.mapped(
        "batch_size",
        prefix + "per_device_train_batch_size × gradient_accumulation_steps × processes",
        f"{config['per_device_train_batch_size']} × {config['gradient_accumulation_steps']}"
        f" × {launch.world_size(job)}",
    )
    builder.mapped(
        "micro_batch_size",
        prefix + "per_device_train_batch_size",
        config["per_device_train_batch_size"],
    )
    builder.mapped(
        "warmup_ratio",
        prefix + "warmup_steps",
        config["warmup_steps"],
        reason="transformers 5 reads warmup_steps < 1 as a fraction of all steps",
    )
    builder.mapped("lr_scheduler", prefix + "lr_scheduler_type", config["lr_scheduler_type"])
    builder.mapped("weight_decay", prefix + "weight_decay")
    builder.mapped("max_grad_norm", prefix + "max_grad_norm")
    if objective == "grpo":
        builder.dropped("max_seq_length", "GRPO bounds the generated tokens: max_completion_length")
    else:
        builder.mapped("max_seq_length", prefix + "max_length", config["max_length"])
    builder.mapped("seed", prefix + "seed")
    if objective in ("dpo", "kto", "orpo"):
        builder.mapped("beta", prefix + "beta")
    if objective == "grpo":
        _grpo_rows(builder, job, config, prefix)
    if has_eval(job):
        source = "eval_data" if job.eval_data is not None else "eval_split"
        builder.mapped(source, "eval_dataset", reason="evaluated with the trainer's eval loop")
        builder.mapped("eval_steps", prefix + "eval_strategy", config["eval_strategy"])
    else:
        builder.defaulted("eval_steps", "no eval data: no evaluation")
    if job.n_checkpoints is not None:
        builder.mapped("n_checkpoints", prefix + "save_total_limit", config["save_total_limit"])
    else:
        builder.defaulted(
            "n_checkpoints",
            f"one checkpoint per epoch, the last {DEFAULT_KEPT_CHECKPOINTS} kept",
            native=prefix + "save_strategy, save_total_limit",
            native_value=f"epoch, {DEFAULT_KEPT_CHECKPOINTS}",
        )
    if objective == "sft":
        builder.mapped(
            "train_on_inputs",
            "labels",
            "all tokens" if job.train_on_inputs else "assistant tokens only",
            reason="tunesdk tokenizes the data and builds the labels column",
        )
        builder.mapped("packing", prefix + "packing", config["packing"])
    else:
        name = objective.upper()
        builder.dropped("train_on_inputs", f"{name} scores the responses only")
        builder.dropped("packing", f"{name} does not pack its examples")
    if job.chat_template is not None:
        builder.mapped("chat_template", "tokenizer.chat_template", reason="set before tokenizing")
    builder.dropped("suffix", "local runs have no provider model name; use output_dir")
    builder.mapped("output_dir", "final_model_dir", native["final_model_dir"])
    builder.mapped("report_to", prefix + "report_to", config["report_to"])
    if job.wandb_project:
        builder.mapped("wandb_project", "env WANDB_PROJECT")
    _resource_rows(builder, job, native["launch"])
    if job.resources.mixed_precision in ("bf16", "fp16"):
        builder.mapped("resources.mixed_precision", prefix + job.resources.mixed_precision, True)
    elif job.resources.mixed_precision == "no":
        builder.mapped("resources.mixed_precision", reason="fp32")
    else:
        builder.defaulted(
            "resources.mixed_precision",
            "fp32 unless set (TRL's own default, bf16, fails on CPUs and pre-Ampere GPUs)",
            native=prefix + "bf16",
            native_value=False,
        )
    return builder.build()


def _grpo_rows(builder: PlanBuilder, job: Job, config: dict[str, Any], prefix: str) -> None:
    """The GRPO knobs: rewards, generation and loss settings, each set or defaulted."""
    from tunesdk.rewards import check_worker_rewards, reward_name

    check_worker_rewards(job)  # JobError now for a reward the worker could not run
    names = [reward_name(r, i) for i, r in enumerate(job.rewards)]
    builder.mapped(
        "rewards",
        "GRPOTrainer.reward_funcs",
        names,
        reason="imported in the worker; each logged as rewards/<name>/mean",
    )
    knobs = {
        "num_generations": (grpo.DEFAULT_NUM_GENERATIONS, "completions per prompt"),
        "max_completion_length": (grpo.DEFAULT_MAX_COMPLETION_LENGTH, "tokens per completion"),
        "temperature": (grpo.DEFAULT_TEMPERATURE, "sampling temperature"),
        "loss_type": (rl.DEFAULT_LOSS_TYPE, "TRL's default loss"),
    }
    for option, (default, what) in knobs.items():
        if getattr(job, option) is None:
            builder.defaulted(
                option,
                f"{default} {what} (tunesdk's small-model default)",
                native=prefix + option,
                native_value=config[option],
            )
        else:
            builder.mapped(option, prefix + option, config[option])
    if job.reward_weights is None:
        builder.defaulted(
            "reward_weights", "every reward weighs 1.0", native=prefix + "reward_weights"
        )
    else:
        builder.mapped("reward_weights", prefix + "reward_weights", config["reward_weights"])
    if "beta" in job.model_fields_set:
        builder.mapped("beta", prefix + "beta", config["beta"], reason="the KL coefficient")
    else:
        builder.defaulted(
            "beta",
            "0, GRPOConfig's own default (not the Job's 0.1, which is DPO's): no KL penalty and "
            "no reference model; set beta, e.g. 0.04, to add one",
            native=prefix + "beta",
            native_value=config["beta"],
            value=config["beta"],
        )
    builder.notes.append(
        "GRPO generates with transformers (no vLLM); its logged loss is about 0 on-policy, so "
        "watch the reward (Progress.reward_mean) instead"
    )


def _bottleneck_rows(builder: PlanBuilder, method: Adapter, native: dict[str, Any]) -> None:
    """The adapter settings, and the trainable-parameter count when the config is readable."""
    where = " and ".join(
        f"after each {'MLP' if s == 'mlp' else 'attention'} block" for s in native["sublayers"]
    )
    builder.mapped(
        "method", "bottleneck", method.placement, reason=f"tunesdk's bottleneck adapters, {where}"
    )
    builder.mapped(
        "method.reduction",
        "bottleneck.reduction",
        native["reduction"],
        reason="bottleneck size = hidden size // reduction",
    )
    builder.mapped("method.placement", "bottleneck.sublayers", native["sublayers"])
    builder.mapped("method.nonlinearity", "bottleneck.nonlinearity", native["nonlinearity"])
    model = builder.model
    config = bottleneck.local_config(model)
    if config is None:
        builder.notes.append(
            "bottleneck adapters: the model's config.json is not readable here, so its "
            "architecture is checked (and the adapter size counted) when the worker loads it"
        )
        return
    text = bottleneck.text_config(config)
    hidden, layers = int(text["hidden_size"]), int(text["num_hidden_layers"])
    size = bottleneck.bottleneck_size(hidden, native["reduction"], model)
    count = bottleneck.trainable_parameters(config, native)
    builder.native["bottleneck"] = {
        **native,
        "hidden_size": hidden,
        "bottleneck_size": size,
        "trainable_parameters": count,
    }
    builder.notes.append(
        f"bottleneck adapters ({method.placement}): {layers} layers × {len(native['sublayers'])} "
        f"adapter(s) of {hidden} → {size} → {hidden}: {count:,} trainable parameters; the base "
        "model is frozen and only the adapters are saved"
    )


STRATEGY_REASONS = {
    "auto": "DDP: nccl on CUDA GPUs, gloo on CPUs when no GPU is visible",
    "ddp": "DDP: nccl on CUDA GPUs, gloo on CPUs when no GPU is visible",
    "fsdp": "FSDP2 full sharding, transformer-layer wrapping, full state dict on save",
    "deepspeed": "DeepSpeed ZeRO through accelerate's deepspeed_config",
}


def _resource_rows(builder: PlanBuilder, job: Job, launched: dict[str, Any]) -> None:
    """How ``resources`` becomes the launch command and the accelerate config file."""
    resources = job.resources
    command = " ".join(launched["command"])
    config = launched["accelerate_config"]
    builder.mapped("resources.processes", "launch command", command, reason=launch.describe(job))
    if config is None:
        builder.mapped("resources.nodes", reason="one node")
        builder.defaulted("resources.strategy", "one process: no data parallelism or sharding")
    else:
        builder.mapped("resources.nodes", f"{launch.CONFIG_FILE}: num_machines", resources.nodes)
        builder.mapped(
            "resources.strategy",
            f"{launch.CONFIG_FILE}: distributed_type",
            config["distributed_type"],
            reason=STRATEGY_REASONS[resources.strategy],
        )
        builder.notes.append(
            f"launched with accelerate: {command} "
            f"({launch.CONFIG_FILE} is written into the run folder; native.launch shows it)"
        )
    if resources.strategy == "deepspeed" and resources.deepspeed_stage is None:
        builder.defaulted(
            "resources.deepspeed_stage",
            "ZeRO stage 2 (optimizer states and gradients sharded)",
            native=f"{launch.CONFIG_FILE}: deepspeed_config.zero_stage",
            native_value=2,
        )
    if resources.deepspeed_stage is not None and config is not None:
        builder.mapped(
            "resources.deepspeed_stage",
            f"{launch.CONFIG_FILE}: deepspeed_config.zero_stage",
            resources.deepspeed_stage,
        )
    if resources.gpus is None:
        builder.defaulted(
            "resources.gpus", "every visible device (set CUDA_VISIBLE_DEVICES to limit)"
        )
    else:
        builder.mapped(
            "resources.gpus",
            "env CUDA_VISIBLE_DEVICES",
            f"the first {resources.gpus} visible device(s)",
        )
