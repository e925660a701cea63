"""Job → Axolotl config: every method × objective, resources, precision, trackers, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

import tunesdk as ts
from tunesdk.errors import JobError
from tunesdk.testing import tiny_chat_data, tiny_preference_data
from tunesdk_axolotl import config as cfg
from tunesdk_axolotl import export

METHODS = {
    "full": ts.Full(),
    "lora": ts.LoRA(r=8),
    "qlora": ts.QLoRA(r=8),
    "dora": ts.LoRA(r=8, use_dora=True, use_rslora=True, target_modules=["q_proj", "v_proj"]),
}
DATA = {"sft": tiny_chat_data(4), "dpo": tiny_preference_data(4)}


def _config(job: ts.Job, objective: str | None = None) -> dict[str, Any]:
    return cfg.build(job, objective or job.infer_objective(), Path("/runs/r1")).config


@pytest.mark.parametrize("objective", ["sft", "dpo"])
@pytest.mark.parametrize("method", list(METHODS))
def test_method_and_objective(method: str, objective: str) -> None:
    job = ts.Job(model="Qwen/Qwen2.5-0.5B", data=DATA[objective], method=METHODS[method])
    config = _config(job)
    assert config["base_model"] == "Qwen/Qwen2.5-0.5B"
    if method == "full":
        assert not {"adapter", "lora_r", "load_in_4bit"} & config.keys()
    else:
        assert config["adapter"] == ("qlora" if method == "qlora" else "lora")
        assert (config["lora_r"], config["lora_alpha"], config["lora_dropout"]) == (8, 16, 0.05)
        assert isinstance(config["lora_alpha"], int)  # Axolotl types lora_alpha as int
    if method == "qlora":
        assert config["load_in_4bit"] is True
        assert config["bnb_config_kwargs"] == {
            "bnb_4bit_quant_type": "nf4",
            "bnb_4bit_use_double_quant": True,
            "bnb_4bit_compute_dtype": "bfloat16",
        }
    if method == "dora":
        assert config["peft_use_dora"] is True and config["peft_use_rslora"] is True
        assert config["lora_target_modules"] == ["q_proj", "v_proj"]
        assert "lora_target_linear" not in config
    elif method != "full":
        assert config["lora_target_linear"] is True and "peft_use_dora" not in config
    dataset = config["datasets"][0]
    assert dataset["path"] == "/runs/r1/axolotl/train.jsonl"
    if objective == "dpo":
        assert (config["rl"], config["rl_beta"]) == ("dpo", 0.1)
        assert dataset["type"] == "chat_template.default"
        assert (dataset["field_chosen"], dataset["field_rejected"]) == ("chosen", "rejected")
        assert "ds_type" not in dataset  # not a DPODataset field
        assert "sample_packing" not in config and "train_on_inputs" not in config
    else:
        assert "rl" not in config
        assert dataset["type"] == "chat_template"
        assert dataset["roles_to_train"] == ["assistant"]
        assert dataset["message_field_training"] == "training"
        assert config["train_on_inputs"] is False and config["sample_packing"] is False


def test_hyperparameters_map_one_to_one() -> None:
    job = ts.Job(
        model="m",
        data=DATA["sft"],
        epochs=3,
        max_steps=50,
        learning_rate=1e-4,
        batch_size=16,
        micro_batch_size=4,
        warmup_ratio=0.1,
        lr_scheduler="cosine",
        weight_decay=0.01,
        max_grad_norm=0.5,
        max_seq_length=1024,
        seed=7,
        packing=True,
        train_on_inputs=True,
        eval_split=0.2,
        eval_steps=10,
        n_checkpoints=4,
    )
    config = _config(job)
    expected = {
        "num_epochs": 3,
        "max_steps": 50,
        "learning_rate": 1e-4,
        "micro_batch_size": 4,
        "gradient_accumulation_steps": 4,
        "warmup_ratio": 0.1,
        "lr_scheduler": "cosine",
        "weight_decay": 0.01,
        "max_grad_norm": 0.5,
        "sequence_len": 1024,
        "seed": 7,
        "sample_packing": True,
        "train_on_inputs": True,
        "val_set_size": 0.2,
        "eval_steps": 10,
        "save_steps": 0.25,
        "save_total_limit": 4,
        "logging_steps": 1,
        "output_dir": "/runs/r1/outputs/model",
        "dataset_prepared_path": "/runs/r1/axolotl/prepared",
    }
    assert {k: config[k] for k in expected} == expected
    assert "eval_strategy" not in config and "save_strategy" not in config


def test_defaults_eval_once_per_epoch_and_keep_the_last_two_checkpoints(tmp_path: Path) -> None:
    eval_file = tmp_path / "val.jsonl"
    eval_file.write_text("\n".join(json.dumps(r) for r in DATA["sft"]) + "\n")
    config = _config(ts.Job(model="m", data=DATA["sft"], eval_data=str(eval_file)))
    assert config["test_datasets"][0]["path"] == "/runs/r1/axolotl/eval.jsonl"
    # strategies, not evals_per_epoch/saves_per_epoch: Axolotl makes 1 per epoch of a 1-epoch run
    # "no eval", and keeps 4 checkpoints unless told
    assert config["eval_strategy"] == "epoch" and config["save_strategy"] == "epoch"
    assert config["save_total_limit"] == 2
    assert "val_set_size" not in config
    assert _config(ts.Job(model="m", data=DATA["sft"]))["val_set_size"] == 0.0


def test_eight_bit_qlora_is_lora_on_an_int8_base() -> None:
    config = _config(ts.Job(model="m", data=DATA["sft"], method=ts.QLoRA(bits=8)))
    assert config["adapter"] == "lora" and config["load_in_8bit"] is True
    assert "load_in_4bit" not in config and "bnb_config_kwargs" not in config


@pytest.mark.parametrize(
    ("precision", "expected"),
    [
        (None, {"bf16": "auto"}),
        ("bf16", {"bf16": True, "fp16": False}),
        ("fp16", {"bf16": False, "fp16": True}),
        ("no", {"bf16": False, "fp16": False}),
    ],
)
def test_mixed_precision(precision: str | None, expected: dict[str, Any]) -> None:
    job = ts.Job(model="m", data=DATA["sft"], resources={"mixed_precision": precision})
    config = _config(job)
    assert {k: config.get(k) for k in expected} == expected
    if precision is None:
        assert "fp16" not in config


def test_chat_template_by_name_or_jinja() -> None:
    assert (
        _config(ts.Job(model="m", data=DATA["sft"], chat_template="chatml"))["chat_template"]
        == "chatml"
    )
    jinja = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    config = _config(ts.Job(model="m", data=DATA["sft"], chat_template=jinja))
    assert (config["chat_template"], config["chat_template_jinja"]) == ("jinja", jinja)
    with pytest.raises(JobError, match="chatml"):
        _config(ts.Job(model="m", data=DATA["sft"], chat_template="chatmll"))


def test_trackers() -> None:
    job = ts.Job(
        model="m", data=DATA["sft"], report_to=["wandb", "tensorboard"], wandb_project="proj"
    )
    config = _config(job)
    assert config["use_wandb"] is True and config["wandb_project"] == "proj"
    assert config["use_tensorboard"] is True and "use_mlflow" not in config


def test_fsdp_names_the_decoder_layer_of_a_local_model(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    job = ts.Job(
        model=str(tmp_path),
        data=DATA["sft"],
        batch_size=8,
        micro_batch_size=2,
        resources={"processes": 2, "strategy": "fsdp"},
    )
    config = _config(job)
    assert config["fsdp_version"] == 2
    assert config["fsdp_config"]["transformer_layer_cls_to_wrap"] == "LlamaDecoderLayer"
    assert config["fsdp_config"]["auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    assert config["gradient_accumulation_steps"] == 2  # 8 / 2 micro / 2 processes
    assert "deepspeed" not in config


def test_fsdp_on_a_hub_id_leaves_the_wrap_class_to_accelerate() -> None:
    job = ts.Job(model="org/model", data=DATA["sft"], resources={"strategy": "fsdp"})
    assert "transformer_layer_cls_to_wrap" not in _config(job)["fsdp_config"]


@pytest.mark.parametrize("stage", [1, 2, 3])
def test_deepspeed_writes_a_zero_config_into_the_run_folder(stage: int, tmp_path: Path) -> None:
    job = ts.Job(
        model="m",
        data=DATA["sft"],
        batch_size=8,
        resources={"processes": 4, "strategy": "deepspeed", "deepspeed_stage": stage},
        micro_batch_size=1,
    )
    path = cfg.write(job, "sft", tmp_path)
    config = yaml.safe_load(path.read_text())
    ds_path = Path(config["deepspeed"])
    assert ds_path == tmp_path / "axolotl" / f"deepspeed_zero{stage}.json"
    ds = json.loads(ds_path.read_text())
    assert ds["zero_optimization"]["stage"] == stage
    assert ds["train_micro_batch_size_per_gpu"] == "auto"
    assert ("stage3_gather_16bit_weights_on_model_save" in ds["zero_optimization"]) == (stage == 3)
    assert config["gradient_accumulation_steps"] == 2


def test_deepspeed_stage_defaults_to_two() -> None:
    job = ts.Job(model="m", data=DATA["sft"], resources={"strategy": "deepspeed"})
    assert _config(job)["deepspeed"].endswith("deepspeed_zero2.json")


def test_batch_that_does_not_split_across_processes_is_refused_with_a_fix() -> None:
    job = ts.Job(model="m", data=DATA["sft"], batch_size=6, resources={"processes": 4})
    with pytest.raises(JobError, match="micro_batch_size") as info:
        _config(job)
    assert "batch_size=6" in str(info.value)


@pytest.mark.parametrize("method", [ts.PrefixTuning(), ts.Adapter()])
def test_methods_axolotl_lacks_are_refused(method: Any) -> None:
    with pytest.raises(JobError, match="LoRA, QLoRA and full"):
        _config(ts.Job(model="m", data=DATA["sft"], method=method))


def test_backend_options_pass_through_last() -> None:
    job = ts.Job(
        model="m",
        data=DATA["sft"],
        backend_options={"axolotl": {"gradient_checkpointing": True, "lr_scheduler": "rex"}},
    )
    config = _config(job)
    assert config["gradient_checkpointing"] is True and config["lr_scheduler"] == "rex"


def test_export_writes_data_yaml_runnable_without_tunesdk(tmp_path: Path) -> None:
    job = ts.Job(model="m", data=DATA["dpo"], method=ts.LoRA())
    path = export(job, tmp_path / "out")
    config = yaml.safe_load(path.read_text())
    train = Path(config["datasets"][0]["path"])
    assert train.parent == path.parent and train.exists()
    first = json.loads(train.read_text().splitlines()[0])
    assert set(first) == {"messages", "chosen", "rejected"}
    assert first["chosen"]["role"] == "assistant"
    assert config["output_dir"] == str(tmp_path / "out" / "outputs" / "model")
