"""The axolotl backend's Plan: the YAML config as ``plan.native`` and one row per Job option."""

from __future__ import annotations

from tunesdk.backend import Plan, PlanBuilder
from tunesdk.job import Job
from tunesdk.methods import LoRA, QLoRA
from tunesdk_axolotl import config as cfg

LORA_KEYS = {
    "r": "lora_r",
    "alpha": "lora_alpha",
    "dropout": "lora_dropout",
}


def build_plan(job: Job, backend: str = "axolotl") -> Plan:
    """Pure apart from peeking at the data's first record; paths read ``<run folder>/...``."""
    builder = PlanBuilder(job, backend, "local")
    objective = builder.objective
    files = cfg.build(job, objective)
    config = files.config
    builder.native = _redacted(config)
    builder.native_format = "yaml"

    if objective == "dpo":
        builder.mapped("objective", "rl", "dpo")
        builder.mapped("beta", "rl_beta", config["rl_beta"])
    elif objective == "kto":
        builder.mapped("objective", "rl", "kto")
        builder.mapped("beta", "rl_beta", config["rl_beta"])
    elif objective == "orpo":
        builder.mapped("objective", "rl", "orpo")
        builder.mapped(
            "beta", "orpo_alpha", config["orpo_alpha"], reason="ORPO's odds-ratio weight"
        )
    else:
        builder.mapped("objective", "datasets[0].type", config["datasets"][0]["type"])
    _method_rows(builder, job, config)

    builder.mapped("epochs", "num_epochs")
    if job.max_steps is not None:
        builder.mapped("max_steps", "max_steps")
    builder.mapped("learning_rate", "learning_rate", config["learning_rate"])
    builder.mapped(
        "batch_size",
        "micro_batch_size × gradient_accumulation_steps × processes",
        f"{config['micro_batch_size']} × {config['gradient_accumulation_steps']} × "
        f"{cfg.processes(job)}",
    )
    builder.mapped("micro_batch_size", "micro_batch_size", config["micro_batch_size"])
    builder.mapped("warmup_ratio", "warmup_ratio")
    builder.mapped("lr_scheduler", "lr_scheduler")
    builder.mapped("weight_decay", "weight_decay")
    builder.mapped("max_grad_norm", "max_grad_norm")
    builder.mapped("max_seq_length", "sequence_len")
    builder.mapped("seed", "seed")
    if job.eval_data is not None:
        builder.mapped("eval_data", "test_datasets", reason="written as an Axolotl JSONL file")
    elif job.eval_split is not None:
        builder.mapped("eval_split", "val_set_size")
    if "eval_steps" in config:
        builder.mapped("eval_steps", "eval_steps")
    elif "eval_strategy" in config:
        builder.defaulted(
            "eval_steps", "once per epoch", native="eval_strategy", native_value="epoch"
        )
    else:
        builder.defaulted("eval_steps", "no eval data: no evaluation")
    if job.n_checkpoints is not None:
        builder.mapped("n_checkpoints", "save_steps + save_total_limit", job.n_checkpoints)
    else:
        builder.defaulted(
            "n_checkpoints",
            f"one checkpoint per epoch, the last {cfg.DEFAULT_CHECKPOINTS_KEPT} kept",
            native="save_strategy + save_total_limit",
            native_value=f"epoch + {cfg.DEFAULT_CHECKPOINTS_KEPT}",
        )
    if objective == "sft":
        builder.mapped("train_on_inputs", "train_on_inputs")
        builder.mapped("packing", "sample_packing")
    else:
        name = objective.upper()
        builder.dropped("train_on_inputs", f"{name} scores the responses only")
        builder.dropped("packing", f"Axolotl does not pack {name} examples")
    if job.chat_template is not None:
        builder.mapped("chat_template", "chat_template", config["chat_template"])
    else:
        builder.defaulted(
            "chat_template", "the tokenizer's own template (Axolotl's tokenizer_default)"
        )
    builder.dropped("suffix", "local runs have no provider model name; use output_dir")
    builder.mapped("output_dir", "output_dir", config["output_dir"])
    _tracker_rows(builder, job, config)
    _resource_rows(builder, job, config)

    builder.notes.append(
        "Axolotl trains on CUDA GPUs, or slowly on the CPU: without a CUDA device a real run's "
        "config also sets lora_mlp_kernel/lora_qkv_kernel/lora_o_kernel/lora_embedding_kernel: "
        "false (its LoRA kernels allocate on cuda) and names tunesdk's events plugin"
    )
    builder.notes.append(
        "data paths are filled in when the run starts; to run Axolotl yourself, write the data "
        'with ts.Dataset.load(...).to("axolotl", PATH) or use tunesdk_axolotl.export()'
    )
    if files.deepspeed is not None:
        builder.notes.append(f"writes the DeepSpeed config {config['deepspeed']}")
    if objective == "dpo":
        builder.notes.append("prompts longer than Axolotl's max_prompt_len (512) are truncated")
    return builder.build()


def _method_rows(builder: PlanBuilder, job: Job, config: dict[str, object]) -> None:
    method = job.method
    if not isinstance(method, LoRA):
        builder.mapped("method", "adapter", None, reason="full fine-tuning: no adapter key")
        return
    builder.mapped("method", "adapter", config["adapter"])
    for field, key in LORA_KEYS.items():
        builder.mapped(f"method.{field}", key, config[key])
    if "lora_target_linear" in config:
        builder.mapped("method.target_modules", "lora_target_linear", True)
    else:
        builder.mapped("method.target_modules", "lora_target_modules")
    builder.mapped("method.use_dora", "peft_use_dora", method.use_dora)
    builder.mapped("method.use_rslora", "peft_use_rslora", method.use_rslora)
    if isinstance(method, QLoRA):
        if method.bits == 8:
            for name in ("bits", "quant_type", "double_quant", "compute_dtype"):
                builder.mapped(f"method.{name}", "load_in_8bit", True)
        else:
            kwargs = config["bnb_config_kwargs"]
            assert isinstance(kwargs, dict)
            builder.mapped("method.bits", "load_in_4bit", True)
            builder.mapped("method.quant_type", "bnb_config_kwargs.bnb_4bit_quant_type")
            builder.mapped("method.double_quant", "bnb_config_kwargs.bnb_4bit_use_double_quant")
            builder.mapped("method.compute_dtype", "bnb_config_kwargs.bnb_4bit_compute_dtype")


def _tracker_rows(builder: PlanBuilder, job: Job, config: dict[str, object]) -> None:
    if job.report_to:
        keys = [k for k in ("use_wandb", "use_tensorboard", "use_mlflow") if k in config]
        builder.mapped("report_to", " + ".join(keys), True)
    else:
        builder.defaulted("report_to", "no tracker")
    if job.wandb_project:
        if "wandb_project" in config:
            builder.mapped("wandb_project", "wandb_project")
        else:
            builder.dropped("wandb_project", 'report_to does not include "wandb"')


def _resource_rows(builder: PlanBuilder, job: Job, config: dict[str, object]) -> None:
    res = job.resources
    n = cfg.processes(job)
    launcher = "accelerate launch" if n > 1 else "one process"
    builder.mapped("resources.processes", f"launcher: {launcher}", n)
    builder.mapped("resources.nodes", "accelerate --num_machines", res.nodes)
    builder.defaulted("resources.gpus", "every visible device (set CUDA_VISIBLE_DEVICES to limit)")
    if res.strategy == "fsdp":
        builder.mapped("resources.strategy", "fsdp_version + fsdp_config", config["fsdp_config"])
    elif res.strategy == "deepspeed":
        builder.mapped("resources.strategy", "deepspeed", config["deepspeed"])
    elif res.strategy == "ddp" or n > 1:
        builder.mapped("resources.strategy", "accelerate (DDP)", "ddp")
    else:
        builder.defaulted("resources.strategy", "single process, no sharding")
    if res.deepspeed_stage is not None and res.strategy != "deepspeed":
        builder.dropped("resources.deepspeed_stage", 'only used with strategy="deepspeed"')
    elif res.strategy == "deepspeed":
        builder.mapped(
            "resources.deepspeed_stage",
            "deepspeed JSON zero_optimization.stage",
            res.deepspeed_stage or cfg.DEFAULT_DEEPSPEED_STAGE,
        )
    if res.mixed_precision is None:
        builder.defaulted(
            "resources.mixed_precision",
            "bf16 where the GPU supports it (Axolotl's bf16: auto)",
            native="bf16",
            native_value="auto",
        )
    else:
        builder.mapped("resources.mixed_precision", "bf16 / fp16", res.mixed_precision)


SECRET_WORDS = ("key", "token", "secret", "password")


def _redacted(config: dict[str, object]) -> dict[str, object]:
    """Plans are stored in the run folder: secret-looking keys (``comet_api_key``) never are."""
    return {
        k: "***" if v and any(w in k.lower() for w in SECRET_WORDS) else v
        for k, v in config.items()
    }
