from __future__ import annotations

from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk.errors import UnsupportedOption
from tunesdk.testing import tiny_chat_data, tiny_preference_data
from tunesdk_trl import TRLBackend


def test_sft_lora_plan_shows_sftconfig_and_loraconfig_kwargs() -> None:
    job = ts.Job(
        model="org/model",
        data=tiny_chat_data(4),
        method=ts.LoRA(r=8, use_dora=True, use_rslora=True),
        batch_size=8,
        micro_batch_size=2,
        warmup_ratio=0.1,
        max_seq_length=512,
    )
    plan = TRLBackend().plan(job)
    config = plan.native["config"]
    assert plan.native["trainer"] == "SFTTrainer"
    assert config["warmup_steps"] == 0.1 and "warmup_ratio" not in config
    assert config["max_length"] == 512 and "max_seq_length" not in config
    assert (config["per_device_train_batch_size"], config["gradient_accumulation_steps"]) == (2, 4)
    assert config["learning_rate"] == 2e-4
    assert config["bf16"] is False
    lora = plan.native["peft"]
    assert lora["class"] == "LoraConfig"
    assert lora["kwargs"]["lora_alpha"] == 16
    assert lora["kwargs"]["use_dora"] and lora["kwargs"]["use_rslora"]
    assert lora["kwargs"]["target_modules"] == "all-linear"
    assert plan.row("max_seq_length").native == "SFTConfig.max_length"
    assert plan.native_format == "json" and '"SFTConfig"' in plan.native_text()


def test_dpo_plan_maps_beta() -> None:
    job = ts.Job(model="org/model", data=tiny_preference_data(4), beta=0.3)
    plan = TRLBackend().plan(job)
    assert plan.objective == "dpo"
    assert plan.native["trainer"] == "DPOTrainer"
    assert plan.native["config"]["beta"] == 0.3
    assert plan.row("packing").status == "defaulted"  # unset: nothing is lost (issue 13)


def test_full_prefix_and_qlora_plans() -> None:
    data = tiny_chat_data(4)
    full = TRLBackend().plan(ts.Job(model="m", data=data, method=ts.Full()))
    assert full.native["peft"] is None and full.native["config"]["learning_rate"] == 2e-5
    prefix = TRLBackend().plan(
        ts.Job(model="m", data=data, method=ts.PrefixTuning(num_virtual_tokens=7))
    )
    assert prefix.native["peft"] == {
        "class": "PrefixTuningConfig",
        "kwargs": {"task_type": "CAUSAL_LM", "num_virtual_tokens": 7},
    }
    qlora = TRLBackend().plan(ts.Job(model="m", data=data, method=ts.QLoRA()))
    quant = qlora.native["model"]["quantization_config"]["kwargs"]
    assert quant["load_in_4bit"] and quant["bnb_4bit_quant_type"] == "nf4"
    assert any("CUDA" in note for note in qlora.notes)


def test_adapter_plan_is_tunesdk_bottleneck_adapters_not_peft() -> None:
    plan = TRLBackend().plan(ts.Job(model="m", data=tiny_chat_data(4), method=ts.Adapter()))
    assert plan.native["peft"] is None
    assert plan.native["bottleneck"]["placement"] == "pfeiffer"


def test_strict_mode_refuses_options_a_local_run_cannot_honour() -> None:
    job = ts.Job(model="m", data=tiny_chat_data(4), suffix="mine", strict=True)
    with pytest.raises(UnsupportedOption, match="suffix"):
        TRLBackend().plan(job)


def test_n_checkpoints_and_eval(tmp_path: Path) -> None:
    job = ts.Job(model="m", data=tiny_chat_data(8), eval_split=0.25, eval_steps=2, n_checkpoints=4)
    config = TRLBackend().plan(job).native["config"]
    assert config["eval_strategy"] == "steps" and config["eval_steps"] == 2
    assert config["save_steps"] == 0.25 and config["save_total_limit"] == 4


def test_check_reports_versions_and_qlora_needs_cuda() -> None:
    backend = TRLBackend()
    check = backend.check()
    assert check.usable and {"torch", "transformers", "trl", "peft"} <= set(check.versions)
    qlora = backend.check_job(ts.Job(model="m", data=tiny_chat_data(2), method=ts.QLoRA()))
    import torch

    if not torch.cuda.is_available():
        assert not qlora.usable
        assert "CUDA" in (qlora.reason or "")
    adapter = backend.check_job(ts.Job(model="m", data=tiny_chat_data(2), method=ts.Adapter()))
    assert adapter.usable
