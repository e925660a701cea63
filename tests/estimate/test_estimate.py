"""job.estimate() end to end: tokens, costs, memory rows, labels and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk.errors import JobError
from tunesdk.estimation import Estimate
from tunesdk.testing import tiny_chat_data, tiny_preference_data

ROWS = [
    {
        "messages": [
            {"role": "user", "content": "x" * 7},
            {"role": "assistant", "content": "y" * 8},
        ]
    }
] * 10


def test_estimate_for_a_hub_model_prices_tokens_and_highlights_the_method() -> None:
    job = ts.Job(
        model="meta-llama/Llama-3.1-8B-Instruct",
        data=ROWS,
        epochs=2,
        method=ts.QLoRA(r=16),
        micro_batch_size=2,
    )
    estimate = job.estimate()
    assert estimate.is_estimate is True
    assert estimate.tokens.training_tokens == 80  # 10 examples × 4 tokens × 2 epochs
    together = estimate.cost("together")
    assert together.cost_usd == pytest.approx(80 / 1e6 * 0.48)  # QLoRA is billed as LoRA
    assert [row.method for row in estimate.memory] == ["full", "lora", "qlora"]
    assert [row.selected for row in estimate.memory] == [False, False, True]
    assert estimate.memory_for("lora").trainable_params == 41_943_040
    assert estimate.memory_for("qlora").total_bytes < estimate.memory_for("lora").total_bytes
    assert estimate.memory_for("lora").total_bytes < estimate.memory_for("full").total_bytes
    fits = {f.gpu: f.verdict for f in estimate.memory_for("full").fits}
    assert fits["T4 16GB"] == "no"
    assert any("gradient checkpointing on" in a for a in estimate.assumptions)


def test_estimate_of_a_local_model_uses_its_config_and_tokenizer(tiny_model_dir: Path) -> None:
    job = ts.Job(model=str(tiny_model_dir), data=tiny_chat_data(16), method=ts.Full())
    estimate = job.estimate(dtype="float32")
    assert estimate.tokens.approximate is False
    assert estimate.architecture is not None
    assert estimate.architecture.source.endswith("config.json")
    full = estimate.memory_for("full")
    assert full.selected and full.weights_bytes == 4 * estimate.architecture.params
    assert estimate.cost("together").basis == "size class up to 16B, full/sft"


def test_dpo_estimate(tiny_model_dir: Path) -> None:
    job = ts.Job(model=str(tiny_model_dir), data=tiny_preference_data(8), method=ts.Full())
    estimate = job.estimate()
    assert estimate.objective == "dpo"
    assert estimate.memory_for("full").reference_model_bytes > 0
    assert "dpo" in (estimate.cost("together").basis or "")


def test_openai_model_has_cost_but_no_gpu_memory() -> None:
    estimate = ts.Job(model="gpt-4o-mini-2024-07-18", data=ROWS).estimate()
    assert estimate.cost("openai").cost_usd == pytest.approx(40 / 1e6 * 3.00)
    assert estimate.cost("openai").unverified
    assert estimate.memory == []
    assert "not applicable" in (estimate.memory_unavailable or "")


def test_unknown_model_says_how_to_fix_and_params_fixes_it() -> None:
    job = ts.Job(model="my-org/secret-model", data=ROWS)
    estimate = job.estimate()
    assert estimate.memory == []
    assert 'params="7B"' in (estimate.memory_unavailable or "")
    assert not estimate.cost("together").available
    sized = job.estimate(params="13B")
    assert sized.architecture is not None and sized.architecture.params == 13_000_000_000
    assert sized.cost("together").available


def test_price_override_reaches_the_estimate(tmp_path: Path) -> None:
    prices = {"providers": {"fireworks": {"minimum_charge": 1.5, "checked": "2027-02-01"}}}
    estimate = ts.Job(model="Qwen/Qwen2.5-0.5B", data=ROWS).estimate(prices=prices)
    fireworks = estimate.cost("fireworks")
    assert fireworks.cost_usd == 1.5 and fireworks.minimum_applied
    assert str(fireworks.checked) == "2027-02-01"


def test_estimate_round_trips_through_json_and_renders_as_an_estimate() -> None:
    estimate = ts.Job(model="Qwen/Qwen2.5-7B-Instruct", data=ROWS).estimate()
    again = Estimate.model_validate_json(estimate.model_dump_json())
    assert again == estimate
    data = json.loads(estimate.model_dump_json())
    assert data["is_estimate"] is True and "ESTIMATE" in data["disclaimer"]
    text = estimate.render()
    assert "ESTIMATE" in text
    assert "UNVERIFIED" in text  # together's rates are marked in the table
    assert "lora ◀ job" in text


def test_bad_dtype_is_a_job_error() -> None:
    with pytest.raises(JobError, match="dtype"):
        ts.Job(model="Qwen/Qwen2.5-7B", data=ROWS).estimate(dtype="int4")
