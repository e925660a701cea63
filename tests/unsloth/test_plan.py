"""plan(): what would run, computed on any machine (no GPU, no unsloth import)."""

from __future__ import annotations

import sys
from typing import Any

import pytest

import tunesdk as ts
from tunesdk.backend import job_options, plan_checked
from tunesdk.errors import JobError, UnsupportedOption
from tunesdk.testing import tiny_chat_data, tiny_preference_data
from tunesdk_unsloth import UnslothBackend
from tunesdk_unsloth.native import LLAMA_LINEAR

METHODS: dict[str, Any] = {"lora": ts.LoRA(r=8), "qlora": ts.QLoRA(r=8), "full": ts.Full()}


def job(method: Any = None, objective: str = "sft", **options: Any) -> ts.Job:
    data = tiny_chat_data(4) if objective == "sft" else tiny_preference_data(4)
    return ts.Job(
        model="/models/llama",
        data=data,
        method=method or ts.LoRA(r=8),
        batch_size=8,
        micro_batch_size=2,
        **options,
    )


@pytest.mark.parametrize("objective", ["sft", "dpo"])
@pytest.mark.parametrize("kind", ["lora", "qlora", "full"])
def test_plan_rows_and_native_for_each_method_and_objective(kind: str, objective: str) -> None:
    plan = UnslothBackend().plan(job(METHODS[kind], objective))
    native = plan.native
    fp = native["from_pretrained"]
    assert fp["model_name"] == "/models/llama" and fp["max_seq_length"] == 2048
    assert fp["load_in_4bit"] is (kind == "qlora")  # Unsloth's default is True: always explicit
    assert fp["load_in_8bit"] is False
    assert fp["full_finetuning"] is (kind == "full")
    assert fp["use_gradient_checkpointing"] == "unsloth" and fp["random_state"] == 42
    trainer, config_class = (
        ("SFTTrainer", "SFTConfig") if objective == "sft" else ("DPOTrainer", "DPOConfig")
    )
    assert (native["trainer"], native["config_class"]) == (trainer, config_class)
    config = native["config"]
    assert config["per_device_train_batch_size"] == 2
    assert config["gradient_accumulation_steps"] == 4
    assert ("beta" in config) is (objective == "dpo")
    assert "effective batch = 2 per step × 4 accumulation steps × 1 GPU = 8" in plan.notes
    assert plan.row("batch_size").native_value == "2 × 4"
    if kind == "full":
        assert native["get_peft_model"] is None
        assert plan.row("method").native == "FastLanguageModel.from_pretrained.full_finetuning"
    else:
        assert native["get_peft_model"] == {
            "r": 8,
            "lora_alpha": 16,
            "lora_dropout": 0.05,
            "target_modules": LLAMA_LINEAR,
            "bias": "none",
            "use_gradient_checkpointing": "unsloth",
            "random_state": 42,
            "use_rslora": False,
            "loftq_config": None,
        }
        row = plan.row("method.target_modules")
        assert row.native_value == LLAMA_LINEAR and "expanded" in (row.reason or "")
    if kind == "qlora":
        assert plan.row("method.bits").native == "FastLanguageModel.from_pretrained.load_in_4bit"
        assert plan.row("method.quant_type").status == "mapped"


def test_qlora_8bit_explicit_targets_dora_and_precision() -> None:
    method = ts.QLoRA(r=4, bits=8, target_modules=["q_proj", "v_proj"], use_dora=True)
    plan = UnslothBackend().plan(job(method, resources=ts.Resources(mixed_precision="bf16")))
    fp, peft = plan.native["from_pretrained"], plan.native["get_peft_model"]
    assert (fp["load_in_4bit"], fp["load_in_8bit"], fp["dtype"]) == (False, True, "bfloat16")
    assert peft["target_modules"] == ["q_proj", "v_proj"] and peft["use_dora"] is True
    assert plan.row("resources.mixed_precision").native_value == "bfloat16"


def test_qlora_compute_dtype_set_by_the_user_becomes_the_dtype() -> None:
    plan = UnslothBackend().plan(job(ts.QLoRA(compute_dtype="float16")))
    assert plan.native["from_pretrained"]["dtype"] == "float16"
    assert UnslothBackend().plan(job(ts.QLoRA())).native["from_pretrained"]["dtype"] is None


@pytest.mark.parametrize("method", [ts.PrefixTuning(), ts.Adapter()], ids=["prefix", "adapter"])
def test_prefix_tuning_and_adapters_are_refused(method: Any) -> None:
    with pytest.raises(JobError, match="LoRA, QLoRA and full fine-tuning only"):
        UnslothBackend().plan(job(method))
    check = UnslothBackend().check_job(job(method))
    assert not check.usable and "LoRA, QLoRA and full" in (check.reason or "")


def test_options_unsloth_cannot_honour_are_dropped_and_strict_refuses_them() -> None:
    loose = job(ts.QLoRA(quant_type="fp4"), resources=ts.Resources(processes=2))
    plan = UnslothBackend().plan(loose)
    assert {r.option for r in plan.dropped} == {"method.quant_type", "resources.processes"}
    assert "nf4" in (plan.row("method.quant_type").reason or "")
    with pytest.raises(UnsupportedOption, match="quant_type"):
        UnslothBackend().plan(loose.model_copy(update={"strict": True}))


def test_backend_options_reach_the_calls_and_the_config_visibly() -> None:
    options = {
        "unsloth": {"from_pretrained": {"trust_remote_code": True}, "optim": "adamw_8bit"},
        "trl": {"optim": "sgd"},  # the trl backend's options do not leak into this one
    }
    plan = UnslothBackend().plan(job(backend_options=options))
    assert plan.native["from_pretrained"]["trust_remote_code"] is True
    assert plan.native["config"]["optim"] == "adamw_8bit"
    row = plan.row("backend_options.from_pretrained")
    assert row.native == "FastLanguageModel.from_pretrained" and row.status == "mapped"
    with pytest.raises(JobError, match="must be a mapping"):
        UnslothBackend().plan(job(backend_options={"unsloth": {"get_peft_model": 3}}))


def test_plan_shows_the_unsloth_version_without_importing_it(fake_unsloth: Any) -> None:
    plan = ts.Job(model="/m", data=tiny_chat_data(4)).plan("unsloth")
    assert plan.native["unsloth_version"] == "2026.10.9"
    assert "unsloth 2026.10.9 installed" in plan.notes
    assert "unsloth" not in sys.modules and not fake_unsloth.calls()


def test_plan_without_unsloth_says_how_to_install_it() -> None:
    plan = UnslothBackend().plan(job())
    assert plan.native["unsloth_version"] is None
    assert any("pip install 'tunesdk-unsloth[gpu]'" in note for note in plan.notes)


@pytest.mark.parametrize("kind", ["lora", "qlora", "full"])
def test_every_option_has_exactly_one_row(kind: str) -> None:
    # the core adds the launcher's rows (resources.launcher, ...) to every plan
    plan = plan_checked(UnslothBackend(), job(METHODS[kind]))
    options = [row.option for row in plan.rows]
    assert len(options) == len(set(options))
    assert set(job_options(job(METHODS[kind]), "sft")) <= set(options)
    assert all(row.reason for row in plan.rows if row.status == "dropped")


def test_several_processes_are_dropped_and_the_batch_is_split_for_one_gpu() -> None:
    """The trl backend splits batch_size over processes; Unsloth trains on one GPU, so a batch
    that does not divide by processes must still plan (with processes dropped)."""
    job = ts.Job(
        model="org/model",
        data=tiny_chat_data(8),
        batch_size=4,
        micro_batch_size=4,
        resources=ts.Resources(processes=2),
    )
    plan = UnslothBackend().plan(job)
    assert plan.row("resources.processes").status == "dropped"
    assert plan.native["config"]["gradient_accumulation_steps"] == 1
