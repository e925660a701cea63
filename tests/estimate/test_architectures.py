"""Model shapes and parameter counts: the built-in table, config.json, size overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunesdk.errors import JobError
from tunesdk.estimation.architectures import (
    KNOWN,
    from_config,
    normalize_model_id,
    parse_param_count,
    resolve_architecture,
)


@pytest.mark.parametrize("key", sorted(KNOWN))
def test_parameter_count_matches_transformers_modules(key: str) -> None:
    """The closed-form count equals numel() of the real transformers model (built on meta)."""
    torch = pytest.importorskip("torch")
    from transformers import AutoConfig, AutoModelForCausalLM

    arch = KNOWN[key]
    config = AutoConfig.for_model(
        arch.model_type,
        **arch.hf_config_kwargs(),
    )
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    assert arch.params == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    ("key", "published_billions"),
    [
        ("llama-3.2-1b", 1.24),
        ("llama-3-8b", 8.03),
        ("llama-3-70b", 70.55),
        ("qwen2.5-0.5b", 0.49),
        ("qwen2.5-7b", 7.62),
        ("qwen2.5-72b", 72.71),
        ("mistral-7b-v0.1", 7.24),
        ("gemma-2-9b", 9.24),
    ],
)
def test_table_matches_published_sizes(key: str, published_billions: float) -> None:
    assert KNOWN[key].params / 1e9 == pytest.approx(published_billions, abs=0.01)


def test_lora_params_llama3_8b_rank16_all_linear() -> None:
    """Hand count, per layer r·(in+out): q,o 16·8192; k,v 16·5120; gate,up,down 16·18432.

    2·131,072 + 2·81,920 + 3·294,912 = 1,310,720 per layer × 32 layers = 41,943,040.
    """
    assert KNOWN["llama-3-8b"].lora_params(16, "all-linear") == 41_943_040


def test_lora_params_for_named_targets_and_dora() -> None:
    arch = KNOWN["llama-3-8b"]
    # q_proj and v_proj only: 32 × (16·(4096+4096) + 16·(4096+1024))
    assert arch.lora_params(16, ["q_proj", "v_proj"]) == 32 * (131_072 + 81_920)
    # DoRA adds one magnitude per output feature: 32 × (4096 + 1024)
    assert arch.lora_params(16, ["q_proj", "v_proj"], dora=True) == 32 * (
        131_072 + 81_920 + 4096 + 1024
    )


def test_unknown_target_module_names_the_fix() -> None:
    with pytest.raises(JobError, match="not a linear layer") as info:
        KNOWN["llama-3-8b"].lora_params(8, ["qkv"])
    assert "all-linear" in (info.value.fix or "")


@pytest.mark.parametrize(
    ("model", "key"),
    [
        ("meta-llama/Meta-Llama-3.1-8B-Instruct", "llama-3-8b"),
        ("meta-llama/Llama-3.3-70B-Instruct", "llama-3-70b"),
        ("Qwen/Qwen2.5-0.5B-Instruct", "qwen2.5-0.5b"),
        ("mistralai/Mistral-7B-Instruct-v0.3", "mistral-7b-v0.3"),
        ("google/gemma-2-2b-it", "gemma-2-2b"),
        ("meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", "llama-3-8b"),
    ],
)
def test_hub_ids_resolve_to_the_table(model: str, key: str) -> None:
    assert normalize_model_id(model) == key
    resolved = resolve_architecture(model)
    assert resolved.architecture == KNOWN[key]
    assert key in resolved.source


@pytest.mark.parametrize(
    ("given", "count"),
    [("7B", 7_000_000_000), ("1.5b", 1_500_000_000), ("500M", 500_000_000), (123, 123)],
)
def test_parse_param_count(given: str | int, count: int) -> None:
    assert parse_param_count(given) == count


def test_bad_param_count_is_a_job_error() -> None:
    with pytest.raises(JobError, match="cannot read params"):
        parse_param_count("seven billion")


def test_params_override_borrows_the_closest_shapes() -> None:
    resolved = resolve_architecture("my-org/private-model", params="7.5B")
    assert resolved.params == 7_500_000_000
    assert resolved.architecture == KNOWN["qwen2.5-7b"]
    assert "closest in size" in resolved.source


def test_unknown_model_error_names_the_fix() -> None:
    with pytest.raises(JobError) as info:
        resolve_architecture("some-org/unknown-13b")
    assert "params" in (info.value.fix or "")


def test_local_config_is_read(tiny_model_dir: Path) -> None:
    resolved = resolve_architecture(str(tiny_model_dir))
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert resolved.architecture.hidden_size == config["hidden_size"]
    assert resolved.source.endswith("config.json")


def test_mixture_of_experts_config_is_refused_with_a_fix() -> None:
    config = {"model_type": "mixtral", "num_local_experts": 8, "hidden_size": 4096}
    with pytest.raises(JobError, match="mixture-of-experts") as info:
        from_config(config, where="config.json")
    assert 'params="47B"' in (info.value.fix or "")


def test_unsupported_model_type_is_refused() -> None:
    with pytest.raises(JobError, match="model_type 'gpt2'"):
        from_config({"model_type": "gpt2"}, where="config.json")
