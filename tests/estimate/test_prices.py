"""The dated price table: shipped data, overrides, and tokens × price arithmetic."""

from __future__ import annotations

import datetime as dt
from importlib import resources
from pathlib import Path

import pytest

from tunesdk.errors import JobError
from tunesdk.estimation.prices import PROVIDERS, CostEstimate, load_prices, provider_cost


def test_the_table_ships_as_package_data_with_sources_and_dates() -> None:
    assert resources.files("tunesdk.estimation").joinpath("prices.yaml").is_file()
    table = load_prices()
    assert set(PROVIDERS) <= set(table.providers)
    for name, provider in table.providers.items():
        assert provider.source.startswith("https://"), name
        assert isinstance(provider.checked, dt.date)
        assert provider.models or provider.size_classes


def _cost(provider: str, **kw: object) -> CostEstimate:
    table = load_prices()
    args: dict[str, object] = {
        "model_key": "llama-3-8b",
        "params": 8_030_261_248,
        "implementation": "lora",
        "objective": "sft",
        "training_tokens": 2_500_000,
    }
    args.update(kw)
    return provider_cost(provider, table.providers[provider], **args)


def test_tokens_times_price_by_hand() -> None:
    together = _cost("together")
    assert together.available
    assert together.price_per_million == 0.48
    assert together.cost_usd == pytest.approx(1.20)  # 2.5M tokens × $0.48/M
    assert together.basis == "size class up to 16B, lora/sft"
    assert together.unverified
    fireworks = _cost("fireworks")
    assert fireworks.cost_usd == pytest.approx(1.25)
    assert not fireworks.unverified


def test_size_class_objective_and_implementation_pick_the_rate() -> None:
    full_dpo_70b = _cost("together", params=70_553_706_496, implementation="full", objective="dpo")
    assert full_dpo_70b.price_per_million == 8.00
    assert full_dpo_70b.cost_usd == pytest.approx(20.0)
    fireworks_dpo = _cost("fireworks", objective="dpo")
    assert fireworks_dpo.unverified  # the DPO rate is not published


def test_openai_prices_its_own_models_only() -> None:
    mini = _cost("openai", model_key="gpt-4o-mini-2024-07-18", params=None)
    assert mini.basis == "model gpt-4o-mini, sft"
    assert mini.cost_usd == pytest.approx(7.5)  # 2.5M tokens × $3/M
    llama = _cost("openai")
    assert not llama.available
    assert "ModelRef" in (llama.reason or "")


def test_unknown_size_and_unsupported_methods_are_not_priced() -> None:
    assert "params" in (_cost("together", params=None).reason or "")
    huge = _cost("fireworks", params=400_000_000_000)
    assert "beyond the largest" in (huge.reason or "")
    prefix = _cost("together", implementation=None)
    assert not prefix.available


def test_override_file_merges_over_defaults_and_applies_minimum(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(
        "providers:\n"
        "  together:\n"
        "    checked: 2027-01-01\n"
        "    unverified: false\n"
        "    minimum_charge: 5.0\n"
        "    size_classes:\n"
        "      - {label: any size, max_params_b: 1000, rates: {lora/sft: 1.0}}\n"
        "  openai:\n"
        "    models:\n"
        "      gpt-4o-mini: {rates: {sft: 4.0}}\n"
    )
    table = load_prices(path)
    together = table.providers["together"]
    assert together.source == "https://www.together.ai/pricing"  # kept from the defaults
    assert together.checked == dt.date(2027, 1, 1)
    cost = provider_cost(
        "together",
        together,
        model_key="llama-3-8b",
        params=8_000_000_000,
        implementation="lora",
        objective="sft",
        training_tokens=1_000_000,
    )
    assert cost.cost_usd == 5.0 and cost.minimum_applied and not cost.unverified
    openai = table.providers["openai"]
    assert openai.models["gpt-4o-mini"].rates["sft"] == 4.0
    assert "gpt-4.1" in openai.models  # other models kept


def test_environment_and_dict_overrides_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "env.yaml"
    path.write_text("providers:\n  fireworks:\n    minimum_charge: 2.0\n")
    monkeypatch.setenv("TUNESDK_PRICES", str(path))
    assert load_prices().providers["fireworks"].minimum_charge == 2.0
    given = {"providers": {"fireworks": {"minimum_charge": 3.0}}}
    assert load_prices(given).providers["fireworks"].minimum_charge == 3.0


def test_bad_tables_are_clear_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(JobError, match="cannot read the price table"):
        load_prices(missing)
    duplicate = tmp_path / "dup.yaml"
    duplicate.write_text("providers:\n  openai: {}\n  openai: {}\n")
    with pytest.raises(JobError, match="duplicate key 'openai'"):
        load_prices(duplicate)
    bad_rate = {"providers": {"openai": {"models": {"gpt-4o": {"rates": {"sft": "cheap"}}}}}}
    with pytest.raises(JobError, match="invalid price table") as info:
        load_prices(bad_rate)
    assert "providers.openai.models.gpt-4o.rates.sft" in str(info.value)
    new_provider: dict[str, object] = {"providers": {"acme": {"models": {}}}}
    with pytest.raises(JobError, match=r"acme\.source"):
        load_prices(new_provider)
