"""job.plan("axolotl"): the YAML is the native config and every option is accounted for."""

from __future__ import annotations

import pytest
import yaml

import tunesdk as ts
from tunesdk.errors import TuneError, UnsupportedOption
from tunesdk.testing import tiny_chat_data, tiny_preference_data
from tunesdk_axolotl import render_config


def test_plan_native_is_the_yaml_config() -> None:
    job = ts.Job(model="m", data=tiny_chat_data(4), method=ts.QLoRA(r=8), eval_split=0.1)
    plan = job.plan("axolotl")
    assert plan.native_format == "yaml" and plan.kind == "local"
    text = render_config(plan)
    assert text == plan.native_text()
    assert yaml.safe_load(text) == plan.native
    assert plan.native["adapter"] == "qlora"
    assert plan.native["datasets"][0]["path"] == "<run folder>/axolotl/train.jsonl"
    assert any("CUDA GPU" in note for note in plan.notes)


def test_rows_name_the_axolotl_keys() -> None:
    job = ts.Job(
        model="m", data=tiny_preference_data(4), method=ts.LoRA(r=8, use_dora=True), beta=0.2
    )
    plan = job.plan("axolotl")
    assert plan.objective == "dpo"
    assert plan.row("objective").native == "rl"
    assert (plan.row("beta").native, plan.row("beta").native_value) == ("rl_beta", 0.2)
    assert plan.row("method.r").native == "lora_r"
    assert plan.row("method.use_dora").native == "peft_use_dora"
    assert plan.row("method.target_modules").native == "lora_target_linear"
    assert plan.row("max_seq_length").native == "sequence_len"
    assert plan.row("packing").status in ("dropped", "defaulted")  # DPO does not pack
    assert plan.row("packing").native is None
    assert plan.row("suffix").status == "defaulted"  # unset: nothing is lost (issue 13)


def test_every_option_is_accounted_for_and_nothing_user_set_is_silently_dropped() -> None:
    job = ts.Job(
        model="m",
        data=tiny_chat_data(4),
        epochs=2,
        learning_rate=1e-4,
        warmup_ratio=0.1,
        packing=True,
        report_to=["wandb"],
        wandb_project="p",
        resources={"mixed_precision": "bf16"},
    )
    plan = job.plan("axolotl")
    assert plan.dropped == []
    assert plan.row("resources.mixed_precision").native_value == "bf16"
    assert plan.row("report_to").native == "use_wandb"


def test_strict_refuses_what_axolotl_cannot_honour() -> None:
    job = ts.Job(model="m", data=tiny_chat_data(4), suffix="mine", strict=True)
    with pytest.raises(UnsupportedOption, match="suffix"):
        job.plan("axolotl")


def test_deepspeed_plan_notes_the_generated_file() -> None:
    job = ts.Job(model="m", data=tiny_chat_data(4), resources={"strategy": "deepspeed"})
    plan = job.plan("axolotl")
    assert plan.row("resources.strategy").native == "deepspeed"
    assert plan.row("resources.deepspeed_stage").native_value == 2
    assert any("deepspeed_zero2.json" in note for note in plan.notes)


def test_render_config_refuses_another_backends_plan() -> None:
    plan = ts.Job(model="m", data=tiny_chat_data(4)).plan("simulated")
    with pytest.raises(TuneError, match="not an Axolotl config"):
        render_config(plan)
