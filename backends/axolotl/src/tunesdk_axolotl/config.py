"""Job → Axolotl YAML config (a dict), plus the DeepSpeed JSON it points at.

Pure apart from reading the training data's first record (to pick the dataset ``type``) and a
local model's ``config.json`` (to name the FSDP wrap class): no torch, no axolotl import. Every
key is a field of Axolotl's ``AxolotlInputConfig`` (src/axolotl/utils/schemas/*.py, axolotl
0.19.0); ``tests/axolotl`` checks that against the schema.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesdk.errors import JobError
from tunesdk.job import Job
from tunesdk.methods import Adapter, Full, LoRA, PrefixTuning, QLoRA

#: file names inside the Axolotl work folder (``<run folder>/axolotl``)
CONFIG_FILE = "axolotl.yml"
TRAIN_FILE = "train.jsonl"
EVAL_FILE = "eval.jsonl"
PREPARED_DIR = "prepared"
PLACEHOLDER = Path("<run folder>")

#: Axolotl's named chat templates (``ChatTemplate`` in src/axolotl/utils/schemas/enums.py)
CHAT_TEMPLATES = frozenset(
    [
        "alpaca",
        "chatml",
        "mistral_v1",
        "mistral_v2v3",
        "mistral_v3_tekken",
        "mistral_v7_tekken",
        "gemma",
        "cohere",
        "llama3",
        "llama3_2_vision",
        "llama4",
        "phi_3",
        "phi_35",
        "deepseek_v2",
        "deepseek_v3",
        "jamba",
        "qwen_25",
        "qwen3",
        "qwen3_5",
        "falcon_h1",
        "nemotron_h",
        "tokenizer_default",
        "exaone",
        "exaone4",
        "metharme",
        "pixtral",
        "llava",
        "qwen2_vl",
        "gemma3",
        "gemma3n",
        "gemma4",
        "gemma4_unified",
        "command_a",
        "command_a_tool_use",
        "command_a_rag",
        "aya",
    ]
)
#: the fields Axolotl's ``DPODataset`` keeps (others are dropped silently by its schema)
DPO_DATASET_KEYS = (
    "path",
    "split",
    "type",
    "data_files",
    "revision",
    "field_messages",
    "field_chosen",
    "field_rejected",
)
DEFAULT_DEEPSPEED_STAGE = 2
#: checkpoints kept when the job does not say (``n_checkpoints``): the last two
DEFAULT_CHECKPOINTS_KEPT = 2


@dataclass
class AxolotlFiles:
    """What one run needs on disk: the YAML config and, for DeepSpeed, its JSON config."""

    config: dict[str, Any]
    deepspeed: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def work_dir(run_dir: Path | None) -> Path:
    """Where the YAML, the converted data and the DeepSpeed JSON live."""
    return (run_dir if run_dir is not None else PLACEHOLDER) / "axolotl"


def output_dir(job: Job, run_dir: Path | None) -> Path:
    """Axolotl's ``output_dir``: checkpoints (``checkpoint-N``) and the final model."""
    if job.output_dir:
        return Path(job.output_dir).expanduser()
    return (run_dir if run_dir is not None else PLACEHOLDER) / "outputs" / "model"


def processes(job: Job) -> int:
    return job.resources.processes * job.resources.nodes


def accumulation_steps(job: Job) -> int:
    """batch_size / micro_batch_size / processes, refused when it is not a whole number."""
    return job.accumulation_for(processes(job))


def chat_template_keys(template: str | None) -> dict[str, Any]:
    """``chat_template`` (a named template) or ``chat_template: jinja`` + the template text."""
    from tunesdk.paths import chat_template_text

    template = chat_template_text(template)  # a template file: its text
    if template is None:
        return {}
    if template in CHAT_TEMPLATES:
        return {"chat_template": template}
    if "{%" in template or "{{" in template:
        return {"chat_template": "jinja", "chat_template_jinja": template}
    raise JobError(
        f"chat_template {template!r} is neither a Jinja template nor one of Axolotl's names",
        where="job.chat_template",
        fix=f"give the template text, or one of: {', '.join(sorted(CHAT_TEMPLATES))}",
    )


def method_keys(job: Job) -> dict[str, Any]:
    """adapter / quantization / LoRA keys for the job's method."""
    method = job.method
    if isinstance(method, Full):
        return {}
    if isinstance(method, PrefixTuning | Adapter):
        raise JobError(
            f"Axolotl trains LoRA, QLoRA and full fine-tunes, not method {method.kind!r}",
            where="job.method",
            fix="use `method: lora`, `qlora` or `full`, or the trl backend for prefix tuning",
        )
    assert isinstance(method, LoRA)
    keys: dict[str, Any] = {}
    if isinstance(method, QLoRA):
        if method.bits == 8:  # Axolotl's 8-bit path is a LoRA adapter on an int8 base
            keys.update(adapter="lora", load_in_8bit=True)
        else:
            keys.update(
                adapter="qlora",
                load_in_4bit=True,
                bnb_config_kwargs={
                    "bnb_4bit_quant_type": method.quant_type,
                    "bnb_4bit_use_double_quant": method.double_quant,
                    "bnb_4bit_compute_dtype": method.compute_dtype,
                },
            )
    else:
        keys["adapter"] = "lora"
    alpha = method.alpha if method.alpha is not None else 2 * method.r
    keys.update(
        lora_r=method.r,
        lora_alpha=int(alpha) if float(alpha).is_integer() else alpha,
        lora_dropout=method.dropout,
    )
    if method.target_modules == "all-linear":
        keys["lora_target_linear"] = True
    else:
        keys["lora_target_modules"] = list(method.target_modules)
    if method.use_dora:
        keys["peft_use_dora"] = True
    if method.use_rslora:
        keys["peft_use_rslora"] = True
    return keys


def dataset_entry(data: Any, path: Path, objective: str) -> dict[str, Any]:
    """The ``datasets:`` entry that reads what ``Dataset.to("axolotl", path)`` writes."""
    from tunesdk.data import Dataset, axolotl_dataset_entry
    from tunesdk_axolotl import preference

    if objective in ("kto", "orpo"):
        return preference.dataset_entry(path, objective)
    entry = axolotl_dataset_entry(Dataset.load(data), path)
    if objective == "dpo":
        # Axolotl reads DPO sets through DPODataset, which has no ds_type (json is inferred)
        entry = {k: v for k, v in entry.items() if k in DPO_DATASET_KEYS}
    return entry


def precision_keys(job: Job) -> dict[str, Any]:
    precision = job.resources.mixed_precision
    if precision == "bf16":
        return {"bf16": True, "fp16": False}
    if precision == "fp16":
        return {"bf16": False, "fp16": True}
    if precision == "no":
        return {"bf16": False, "fp16": False}
    return {"bf16": "auto"}  # Axolotl's default: bf16 where the GPU supports it


def decoder_layer_class(model: str) -> str | None:
    """``LlamaForCausalLM`` → ``LlamaDecoderLayer``, read from a local model's config.json."""
    config = Path(model).expanduser() / "config.json"
    if not config.is_file():
        return None
    try:
        architectures = json.loads(config.read_text(encoding="utf-8")).get("architectures") or []
    except (OSError, ValueError):
        return None
    name = architectures[0] if architectures else ""
    return name.replace("ForCausalLM", "DecoderLayer") if name.endswith("ForCausalLM") else None


def deepspeed_config(stage: int) -> dict[str, Any]:
    """A ZeRO config in the Hugging Face integration's style: "auto" defers to the trainer."""
    zero: dict[str, Any] = {"stage": stage, "overlap_comm": True, "contiguous_gradients": True}
    if stage >= 2:
        zero.update(reduce_bucket_size="auto", allgather_bucket_size=5e8)
    if stage == 3:
        zero.update(
            stage3_prefetch_bucket_size="auto",
            stage3_param_persistence_threshold="auto",
            stage3_gather_16bit_weights_on_model_save=True,
        )
    return {
        "zero_optimization": zero,
        "bf16": {"enabled": "auto"},
        "fp16": {"enabled": "auto"},
        "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto",
        "train_batch_size": "auto",
        "train_micro_batch_size_per_gpu": "auto",
        "wall_clock_breakdown": False,
    }


def distributed_keys(job: Job, folder: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """fsdp_version/fsdp_config or deepspeed, and the DeepSpeed JSON to write."""
    strategy = job.resources.strategy
    if strategy == "fsdp":
        fsdp: dict[str, Any] = {
            "offload_params": False,
            "cpu_ram_efficient_loading": True,
            "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
            "state_dict_type": "FULL_STATE_DICT",
            "reshard_after_forward": True,
        }
        layer = decoder_layer_class(job.model_for("axolotl"))
        if layer:
            fsdp["transformer_layer_cls_to_wrap"] = layer
        return {"fsdp_version": 2, "fsdp_config": fsdp}, None
    if strategy == "deepspeed":
        stage = job.resources.deepspeed_stage or DEFAULT_DEEPSPEED_STAGE
        path = folder / f"deepspeed_zero{stage}.json"
        return {"deepspeed": str(path)}, deepspeed_config(stage)
    return {}, None


def tracker_keys(job: Job) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    if "wandb" in job.report_to:
        keys["use_wandb"] = True
        if job.wandb_project:
            keys["wandb_project"] = job.wandb_project
    if "tensorboard" in job.report_to:
        keys["use_tensorboard"] = True
    if "mlflow" in job.report_to:
        keys["use_mlflow"] = True
    return keys


def schedule_keys(job: Job, has_eval: bool) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    if has_eval:
        if job.eval_steps is not None:
            keys["eval_steps"] = job.eval_steps
        else:
            # not evals_per_epoch: Axolotl turns 1 per epoch of a 1-epoch run into no eval at all
            keys["eval_strategy"] = "epoch"
    if job.n_checkpoints is None:
        keys["save_strategy"] = "epoch"
        keys["save_total_limit"] = DEFAULT_CHECKPOINTS_KEPT  # Axolotl's own default keeps 4
    else:
        # a float below 1 is a fraction of all steps (transformers' TrainingArguments)
        n = job.n_checkpoints
        keys["save_steps"] = 1.0 / n if n > 1 else 1.0 - 1e-9
        keys["save_total_limit"] = n
    return keys


def build(job: Job, objective: str, run_dir: Path | None = None) -> AxolotlFiles:
    """The Axolotl config for ``job``; ``run_dir`` None gives ``<run folder>`` placeholders."""
    folder = work_dir(run_dir)
    config: dict[str, Any] = {"base_model": job.model_for("axolotl")}
    config.update(method_keys(job))
    if objective == "dpo":
        config.update(rl="dpo", rl_beta=job.beta)
    elif objective == "kto":
        config.update(rl="kto", rl_beta=job.beta, remove_unused_columns=False)
    elif objective == "orpo":
        # TRL's ORPOTrainer takes the odds-ratio weight as ``beta``: Axolotl's orpo_alpha
        config.update(rl="orpo", orpo_alpha=job.beta, remove_unused_columns=False)
    config.update(chat_template_keys(job.chat_template))
    config["datasets"] = [dataset_entry(job.data, folder / TRAIN_FILE, objective)]
    if job.eval_data is not None:
        config["test_datasets"] = [dataset_entry(job.eval_data, folder / EVAL_FILE, objective)]
    elif job.eval_split is not None:
        config["val_set_size"] = job.eval_split
    else:
        config["val_set_size"] = 0.0
    config["dataset_prepared_path"] = str(folder / PREPARED_DIR)
    if objective == "sft":
        config["train_on_inputs"] = job.train_on_inputs
        config["sample_packing"] = job.packing
    config["sequence_len"] = job.max_seq_length
    config.update(
        micro_batch_size=job.effective_micro_batch_size,
        gradient_accumulation_steps=accumulation_steps(job),
        num_epochs=job.epochs,
    )
    if job.max_steps is not None:
        config["max_steps"] = job.max_steps
    config.update(
        learning_rate=job.effective_learning_rate,
        lr_scheduler=job.lr_scheduler,
        warmup_ratio=job.warmup_ratio,
        weight_decay=job.weight_decay,
        max_grad_norm=job.max_grad_norm,
        seed=job.seed,
    )
    has_eval = job.eval_data is not None or job.eval_split is not None
    config.update(schedule_keys(job, has_eval))
    config["logging_steps"] = 1  # one log line per optimizer step: tunesdk's Progress events
    config["output_dir"] = str(output_dir(job, run_dir))
    config.update(precision_keys(job))
    dist, deepspeed = distributed_keys(job, folder)
    config.update(dist)
    config.update(tracker_keys(job))
    config.update(job.backend_options.get("axolotl", {}))
    return AxolotlFiles(config=config, deepspeed=deepspeed)


def write(job: Job, objective: str, run_dir: Path) -> Path:
    """Convert the data, write the YAML (and DeepSpeed JSON) under ``run_dir/axolotl``."""
    import yaml

    from tunesdk.data import Dataset

    files = build(job, objective, run_dir)
    folder = work_dir(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    if objective in ("kto", "orpo"):
        from tunesdk_axolotl import preference

        preference.write(job.data, folder / TRAIN_FILE, objective)
        if job.eval_data is not None:
            preference.write(job.eval_data, folder / EVAL_FILE, objective)
    else:
        Dataset.load(job.data).to("axolotl", folder / TRAIN_FILE)
        if job.eval_data is not None:
            Dataset.load(job.eval_data).to("axolotl", folder / EVAL_FILE)
    if files.deepspeed is not None:
        Path(files.config["deepspeed"]).write_text(
            json.dumps(files.deepspeed, indent=2) + "\n", encoding="utf-8"
        )
    target = folder / CONFIG_FILE
    target.write_text(yaml.safe_dump(files.config, sort_keys=False), encoding="utf-8")
    return target
