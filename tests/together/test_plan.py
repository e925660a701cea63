"""``job.plan("together")``: the native request and the fate of every Job option. No network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tunesdk.backend import Plan
from tunesdk.errors import JobError, UnsupportedOption
from tunesdk.job import Job, ModelRef
from tunesdk.methods import Full, LoRA, PrefixTuning, QLoRA
from tunesdk_together.plan import build_plan, compose_suffix, create_arguments, run_tag


def plan(**fields: Any) -> Plan:
    fields.setdefault("model", "Qwen/Qwen2.5-7B-Instruct")
    fields.setdefault("data", "train.jsonl")
    fields.setdefault("objective", "sft")
    return build_plan(Job(**fields), "together")


def test_lora_sft_maps_every_hyperparameter() -> None:
    p = plan(
        model="meta-llama/Llama-3.1-8B-Instruct",
        method=LoRA(r=16, alpha=32, dropout=0.1, target_modules=["q_proj", "v_proj"]),
        epochs=3,
        learning_rate=1e-4,
        batch_size=16,
        micro_batch_size=8,
        warmup_ratio=0.1,
        lr_scheduler="cosine",
        weight_decay=0.01,
        max_grad_norm=0.5,
        max_seq_length=4096,
        seed=7,
        train_on_inputs=True,
        n_checkpoints=3,
    )
    body = p.native["request_body"]

    assert p.model == "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
    assert "model meta-llama/Llama-3.1-8B-Instruct is meta-llama/Meta-Llama" in p.notes[0]
    assert body["model"] == "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
    assert body["training_type"] == {
        "type": "Lora",
        "lora_r": 16,
        "lora_alpha": 32,
        "lora_dropout": 0.1,
        "lora_trainable_modules": "q_proj,v_proj",
    }
    assert body["training_method"] == {"method": "sft", "train_on_inputs": True}
    assert body["n_epochs"] == 3
    assert body["learning_rate"] == 1e-4
    assert (body["batch_size"], body["gradient_accumulation_steps"]) == (8, 2)
    assert body["warmup_ratio"] == 0.1
    assert body["lr_scheduler"] == {
        "lr_scheduler_type": "cosine",
        "lr_scheduler_args": {"min_lr_ratio": 0.0, "num_cycles": 0.5},
    }
    assert (body["weight_decay"], body["max_grad_norm"]) == (0.01, 0.5)
    assert (body["max_seq_length"], body["random_seed"]) == (4096, 7)
    assert body["n_checkpoints"] == 3 and body["n_evals"] == 0
    assert body["suffix"] == "<run id>"
    assert body["packing"] is False
    assert not p.dropped
    assert p.row("learning_rate").native == "learning_rate"
    assert p.row("method.target_modules").native_value == "q_proj,v_proj"


def test_every_option_has_a_row() -> None:
    p = plan()
    options = {r.option for r in p.rows}
    for name in (
        "epochs",
        "learning_rate",
        "batch_size",
        "method.r",
        "method.alpha",
        "method.dropout",
        "method.target_modules",
        "warmup_ratio",
        "max_seq_length",
        "seed",
        "suffix",
        "eval_steps",
        "n_checkpoints",
        "report_to",
        "resources.gpus",
    ):
        assert name in options
    assert p.row("learning_rate").reason == "the lora default"
    assert p.native["create"]["learning_rate"] == 2e-4


def test_full_fine_tuning_and_default_learning_rate() -> None:
    p = plan(method=Full())
    assert p.native["request_body"]["training_type"] == {"type": "Full"}
    assert p.native["request_body"]["learning_rate"] == 2e-5
    assert p.row("method").native_value == "Full"


def test_full_fine_tuning_refused_where_together_offers_only_lora() -> None:
    with pytest.raises(JobError, match="only LoRA fine-tuning for openai/gpt-oss-20b"):
        plan(model="openai/gpt-oss-20b", method=Full())


def test_dpo_maps_beta_and_needs_no_train_on_inputs() -> None:
    p = plan(objective="dpo", beta=0.3)
    assert p.native["request_body"]["training_method"] == {
        "method": "dpo",
        "dpo_beta": 0.3,
        "dpo_normalize_logratios_by_length": False,
        "dpo_reference_free": False,
    }
    assert p.row("beta").native == "training_method.dpo_beta"
    assert p.row("train_on_inputs").status == "defaulted"


def test_eval_cadence_becomes_an_eval_count(tmp_path: Path) -> None:
    rows = "".join(f'{{"text": "example {i}"}}\n' for i in range(40))
    (tmp_path / "train.jsonl").write_text(rows)
    per_epoch = plan(data=str(tmp_path / "train.jsonl"), eval_data="val.jsonl", epochs=2)
    assert per_epoch.native["request_body"]["n_evals"] == 2
    assert per_epoch.native["request_body"]["validation_file"] == "<file id of eval.jsonl>"

    # 40 examples / batch 8 = 5 steps per epoch, 10 steps; every 2 steps -> 5 evaluations
    every_two = plan(
        data=str(tmp_path / "train.jsonl"), eval_data="v.jsonl", epochs=2, eval_steps=2
    )
    assert every_two.native["request_body"]["n_evals"] == 5
    assert "total steps / 2" in (every_two.row("eval_steps").reason or "")


def test_scheduler_mapping() -> None:
    constant = plan(lr_scheduler="constant").native["request_body"]["lr_scheduler"]
    assert constant == {"lr_scheduler_type": "linear", "lr_scheduler_args": {"min_lr_ratio": 1.0}}
    restarts = plan(lr_scheduler="cosine_with_restarts")
    assert restarts.row("lr_scheduler").status == "dropped"
    with pytest.raises(UnsupportedOption, match=r"lr_scheduler"):
        plan(lr_scheduler="polynomial", strict=True)


def test_qlora_runs_as_lora_and_drops_quantization() -> None:
    p = plan(method=QLoRA(r=8, bits=8))
    assert p.native["request_body"]["training_type"]["type"] == "Lora"
    assert p.row("method.bits").status == "dropped"
    assert "16-bit" in (p.row("method").reason or "")
    with pytest.raises(UnsupportedOption, match=r"method.bits"):
        plan(method=QLoRA(r=8, bits=8), strict=True)


def test_unsupported_choices_fail_at_plan_time() -> None:
    with pytest.raises(JobError, match="not a base model tunesdk knows") as unknown:
        plan(model="acme/my-private-model")
    assert "ModelRef" in (unknown.value.fix or "")
    with pytest.raises(JobError, match="LoRA or full fine-tuning, not prefix"):
        plan(method=PrefixTuning())
    with pytest.raises(JobError, match="above Together's maximum"):
        plan(method=LoRA(r=128))
    with pytest.raises(JobError, match="not trainable on Together"):
        plan(model="openai/gpt-oss-20b", method=LoRA(target_modules=["gate_proj"]))
    with pytest.raises(JobError, match="Together would refuse this job: Requested batch size of 4"):
        plan(batch_size=4)
    with pytest.raises(JobError, match="Maximum sequence length"):
        plan(max_seq_length=100_000)


def test_native_ids_and_model_refs_pass_through() -> None:
    assert plan(model="Qwen/Qwen3-8B").native["request_body"]["model"] == "Qwen/Qwen3-8B"
    ref = ModelRef(name="acme/new-model", ids={"together": "acme/New-Model-Together"})
    p = plan(model=ref)
    assert p.native["request_body"]["model"] == "acme/New-Model-Together"
    assert any("sent unchecked" in note for note in p.notes)


def test_wandb_reporting_uses_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    with pytest.raises(JobError, match="WANDB_API_KEY is not set"):
        plan(report_to=["wandb"])
    monkeypatch.setenv("WANDB_API_KEY", "wandb-secret-value")
    p = plan(report_to=["wandb", "tensorboard"], wandb_project="proj")
    assert "wandb-secret-value" not in p.model_dump_json()
    assert p.native["request_body"]["wandb_key"] == "<from $WANDB_API_KEY>"
    assert p.native["request_body"]["wandb_project_name"] == "proj"
    assert "tensorboard not offered" in (p.row("report_to").reason or "")
    filled = create_arguments(p.native, tag="20260101-000000-abcdef", file_ids={"train": "file-1"})
    assert filled["wandb_api_key"] == "wandb-secret-value"
    assert filled["wandb_name"] == "20260101-000000-abcdef"


def test_unsupported_resources_and_outputs_are_dropped() -> None:
    p = plan(output_dir="out", chat_template="{{ x }}", max_steps=10)
    for option in ("output_dir", "chat_template", "max_steps"):
        assert p.row(option).status == "dropped"
    with pytest.raises(UnsupportedOption, match=r"max_steps"):
        plan(max_steps=10, strict=True)


def test_backend_options_pass_through_but_never_secrets() -> None:
    p = plan(backend_options={"together": {"batch_size": "max", "n_evals": 4}})
    assert p.native["request_body"]["batch_size"] == "max"
    assert p.row("backend_options.batch_size").status == "mapped"
    with pytest.raises(JobError, match="did you mean 'n_epochs'"):
        plan(backend_options={"together": {"n_epoch": 2}})
    with pytest.raises(JobError, match="would store a secret"):
        plan(backend_options={"together": {"wandb_api_key": "x"}})


def test_continuing_a_together_job_sends_no_base_model() -> None:
    p = plan(backend_options={"together": {"from_checkpoint": "ft-123:10"}})
    assert "model" not in p.native["create"]
    assert p.native["request_body"]["from_checkpoint"] == "ft-123:10"
    assert any("continues from Together checkpoint ft-123:10" in note for note in p.notes)


def test_suffix_carries_the_run_id_within_40_characters() -> None:
    tag = run_tag("together-20261129-025607-abc123", "together")
    assert tag == "20261129-025607-abc123"
    suffix = compose_suffix("My Customer-Support bot v2 (final!)", tag)
    assert len(suffix) <= 40 and suffix.endswith(tag)
    assert suffix == f"My-Customer-Suppo-{tag}"
    p = plan(suffix="support bot")
    filled = create_arguments(p.native, tag=tag, file_ids={"train": "file-1"})
    assert filled["suffix"] == f"support-bot-{tag}"
    assert filled["training_file"] == "file-1"
    overridden = plan(backend_options={"together": {"suffix": "custom"}})
    assert (
        create_arguments(overridden.native, tag=tag, file_ids={"train": "f"})["suffix"]
        == f"custom-{tag}"
    )
