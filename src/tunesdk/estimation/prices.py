"""The dated price table of managed fine-tuning, and the cost of a job on each provider.

Defaults ship as ``prices.yaml`` next to this module; a user table (file or dict) is merged over
them: provider by provider, and within a provider model by model (``size_classes`` and ``notes``
are replaced as a whole when given).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError

from tunesdk.errors import JobError

PRICES_ENV = "TUNESDK_PRICES"
PROVIDERS = ("openai", "together", "fireworks")


class PriceEntry(BaseModel):
    """$ per 1M training tokens, keyed ``"lora/sft"``, ``"full/dpo"`` ... or just ``"sft"``."""

    rates: dict[str, float]
    unverified_rates: list[str] = Field(default_factory=list)
    note: str | None = None


class SizeClass(PriceEntry):
    label: str
    max_params_b: float = Field(gt=0, description="upper bound of the class, in billions")


class ProviderPrices(BaseModel):
    source: str
    checked: dt.date
    unverified: bool = False
    minimum_charge: float = Field(0.0, ge=0)
    minimum_charge_source: str | None = None
    notes: list[str] = Field(default_factory=list)
    models: dict[str, PriceEntry] = Field(default_factory=dict)
    size_classes: list[SizeClass] = Field(default_factory=list)


class PriceTable(BaseModel):
    checked: dt.date
    currency: str = "USD"
    providers: dict[str, ProviderPrices]


class CostEstimate(BaseModel):
    """What one provider would charge for the job's training tokens (an estimate)."""

    provider: str
    available: bool
    reason: str | None = Field(None, description="why there is no cost when not available")
    basis: str | None = Field(None, description="which table row: model or size class, rate key")
    price_per_million: float | None = None
    cost_usd: float | None = None
    minimum_charge: float = 0.0
    minimum_applied: bool = False
    unverified: bool = False
    source: str | None = None
    checked: dt.date | None = None


class _StrictLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate keys (YAML keeps the last one silently)."""


def _no_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def _load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: safe


def _default_data() -> dict[str, Any]:
    text = resources.files("tunesdk.estimation").joinpath("prices.yaml").read_text("utf-8")
    data: dict[str, Any] = _load_yaml(text)
    return data


def _read_override(source: str | Path | Mapping[str, Any], where: str) -> dict[str, Any]:
    if isinstance(source, Mapping):
        return dict(source)
    path = Path(source).expanduser()
    try:
        data = _load_yaml(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise JobError(
            f"cannot read the price table {path} ({type(exc).__name__})",
            where=where,
            fix="give a YAML file shaped like tunesdk/estimation/prices.yaml",
        ) from None
    except yaml.YAMLError as exc:
        raise JobError(
            f"the price table {path} is not valid YAML ({exc})",
            where=where,
            fix="fix the YAML syntax",
        ) from None
    if not isinstance(data, dict):
        raise JobError(
            f"the price table {path} is not a mapping",
            where=where,
            fix="start it with `providers:` (see tunesdk/estimation/prices.yaml)",
        )
    return data


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = {**base, **{k: v for k, v in override.items() if k != "providers"}}
    providers = {name: dict(p) for name, p in base.get("providers", {}).items()}
    for name, given in (override.get("providers") or {}).items():
        if not isinstance(given, Mapping):
            raise JobError(
                f"providers.{name} in the price table is not a mapping",
                fix="write each provider as a mapping of source, checked, models, size_classes",
            )
        current = providers.get(name, {})
        models = {**current.get("models", {}), **(given.get("models") or {})}
        providers[name] = {**current, **given, "models": models}
    merged["providers"] = providers
    return merged


def load_prices(override: str | Path | Mapping[str, Any] | None = None) -> PriceTable:
    """The shipped table, with ``$TUNESDK_PRICES`` and then ``override`` merged over it."""
    data = _default_data()
    env = os.environ.get(PRICES_ENV)
    if env:
        data = _merge(data, _read_override(env, where=f"${PRICES_ENV}"))
    if override is not None:
        data = _merge(data, _read_override(override, where="prices"))
    try:
        return PriceTable.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise JobError(
            f"invalid price table: {problems}",
            where="prices",
            fix="every provider needs source and checked (a date); rates are numbers per 1M tokens",
        ) from None


def _model_entry(prices: ProviderPrices, model_key: str) -> tuple[str, PriceEntry] | None:
    matches = [key for key in prices.models if model_key.startswith(key.lower())]
    if not matches:
        return None
    best = max(matches, key=len)
    return best, prices.models[best]


def _size_class(prices: ProviderPrices, params: int | None) -> SizeClass | None:
    if params is None:
        return None
    billions = params / 1e9
    for size in sorted(prices.size_classes, key=lambda s: s.max_params_b):
        if billions <= size.max_params_b:
            return size
    return None


def provider_cost(
    provider: str,
    prices: ProviderPrices,
    *,
    model_key: str,
    params: int | None,
    implementation: str | None,
    objective: str,
    training_tokens: int,
) -> CostEstimate:
    """The cost of ``training_tokens`` on ``provider`` for this model, method and objective."""
    base = {
        "provider": provider,
        "source": prices.source,
        "checked": prices.checked,
        "minimum_charge": prices.minimum_charge,
    }
    if implementation is None:
        return CostEstimate(
            **base,
            available=False,
            reason="managed providers train LoRA or full fine-tunes only, not this method",
        )
    found = _model_entry(prices, model_key)
    entry: PriceEntry | None
    if found is not None:
        where, entry = f"model {found[0]}", found[1]
    else:
        size = _size_class(prices, params)
        where, entry = (f"size class {size.label}", size) if size is not None else ("", None)
    if entry is None:
        if not prices.size_classes:
            listed = ", ".join(prices.models)
            reason = (
                f"{provider} fine-tunes only the models it lists ({listed}), not {model_key!r}; "
                f"give a ModelRef id for {provider} to price one"
            )
        elif params is None:
            reason = "model size unknown: pass params (e.g. params='8B') to price by size class"
        else:
            reason = f"{params / 1e9:.1f}B parameters is beyond the largest priced size class"
        return CostEstimate(**base, available=False, reason=reason)
    for key in (f"{implementation}/{objective}", objective):
        if key in entry.rates:
            rate = entry.rates[key]
            break
    else:
        return CostEstimate(
            **base,
            available=False,
            reason=f"no {objective.upper()} ({implementation}) rate in the {provider} table",
        )
    cost = training_tokens / 1e6 * rate
    applied = cost < prices.minimum_charge
    return CostEstimate(
        **base,
        available=True,
        basis=f"{where}, {key}",
        price_per_million=rate,
        cost_usd=max(cost, prices.minimum_charge),
        minimum_applied=applied,
        unverified=prices.unverified or key in entry.unverified_rates,
    )
