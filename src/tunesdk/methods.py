"""Fine-tuning methods: what gets trained.

Defaults follow the project guide: LoRA/QLoRA learning rate 2e-4 and alpha = 2·r, full fine-tuning
2e-5. Each method knows its own default learning rate, so a Job without ``learning_rate`` gets the
right one for its method.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from tunesdk._spec import Spec

TargetModules = Literal["all-linear"] | list[str]


class Full(Spec):
    """Full fine-tuning: every parameter is updated. Best quality, most memory."""

    kind: Literal["full"] = "full"
    default_learning_rate: ClassVar[float] = 2e-5


class LoRA(Spec):
    """Low-rank adaptation: train small rank-``r`` matrices beside frozen weights.

    ``alpha`` defaults to ``2 * r``; ``target_modules="all-linear"`` adapts every linear layer except the
    output head (the QLoRA paper's recommendation), or name modules such as ``["q_proj", "v_proj"]``.
    """

    kind: Literal["lora"] = "lora"
    r: int = Field(16, ge=1, le=4096)
    alpha: float | None = Field(None, gt=0)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: TargetModules = "all-linear"
    use_dora: bool = False
    use_rslora: bool = False
    default_learning_rate: ClassVar[float] = 2e-4
    fixes: ClassVar[dict[str, str]] = {
        "r": "use a rank between 1 and 4096 (8–64 is typical)",
        "dropout": "use a dropout in [0, 1), e.g. 0.05",
        "target_modules": 'use "all-linear" or a list of module names such as ["q_proj", "v_proj"]',
    }

    synonyms: ClassVar[dict[str, str]] = {
        "rank": "r",
        "lora_r": "r",
        "lora_rank": "r",
        "lora_alpha": "alpha",
        "lora_dropout": "dropout",
        "target": "target_modules",
        "modules": "target_modules",
        "lora_target_modules": "target_modules",
        "dora": "use_dora",
        "rslora": "use_rslora",
    }

    @model_validator(mode="after")
    def _alpha_defaults_to_twice_r(self) -> LoRA:
        # set after validation and outside model_fields_set: a defaulted alpha is not an option the
        # user set, and follows r when r is overridden later
        if self.alpha is None:
            object.__setattr__(self, "alpha", float(2 * self.r))
        return self

    @model_validator(mode="after")
    def _check_targets(self) -> LoRA:
        if isinstance(self.target_modules, list) and not self.target_modules:
            raise ValueError('target_modules is empty: give module names or "all-linear"')
        return self


class QLoRA(LoRA):
    """LoRA on a quantized (4- or 8-bit, via bitsandbytes) frozen base model."""

    kind: Literal["qlora"] = "qlora"  # type: ignore[assignment]
    bits: Literal[4, 8] = 4
    quant_type: Literal["nf4", "fp4"] = "nf4"
    double_quant: bool = True
    compute_dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"
    fixes: ClassVar[dict[str, str]] = {
        **LoRA.fixes,
        "bits": "QLoRA quantizes to 4 or 8 bits: set bits=4 (the usual choice) or bits=8",
        "quant_type": 'use quant_type="nf4" (recommended) or "fp4"',
        "compute_dtype": 'use "bfloat16" on Ampere or newer GPUs, "float16" on older ones',
    }


class PrefixTuning(Spec):
    """Prefix tuning: learn ``num_virtual_tokens`` virtual tokens prepended at every layer."""

    kind: Literal["prefix"] = "prefix"
    num_virtual_tokens: int = Field(20, ge=1, le=1024)
    # PEFT's prefix-tuning examples train at 1e-2; a LoRA-like rate barely moves the prefix.
    default_learning_rate: ClassVar[float] = 1e-2
    fixes: ClassVar[dict[str, str]] = {"num_virtual_tokens": "use 1–1024 (10–50 is typical)"}


class Adapter(Spec):
    """Bottleneck adapters: small down-project → nonlinearity → up-project layers, added with a
    residual after sub-layers of every decoder layer of a frozen base model.

    ``reduction`` is hidden size / bottleneck size (16: a 4096-wide model gets 256-wide adapters).
    ``placement="pfeiffer"`` (the default) adds one adapter after each MLP block; ``"houlsby"``
    adds one after the attention block as well (twice the parameters). Adapters cannot be merged
    into the base weights: they add layers.
    """

    kind: Literal["adapter"] = "adapter"
    reduction: int = Field(16, ge=1, le=4096)
    placement: Literal["pfeiffer", "houlsby"] = "pfeiffer"
    nonlinearity: Literal["relu", "gelu", "silu", "tanh"] = "relu"
    default_learning_rate: ClassVar[float] = 1e-4
    fixes: ClassVar[dict[str, str]] = {
        "reduction": "use a whole number between 1 and 4096 (8–64 is typical; 16 is the default)",
        "placement": 'use "pfeiffer" (after each MLP block) or "houlsby" (after attention and MLP)',
        "nonlinearity": 'use "relu" (the default), "gelu", "silu" or "tanh"',
    }

    @property
    def sublayers(self) -> tuple[str, ...]:
        """The decoder-layer blocks that get an adapter after them, in forward order."""
        return ("attention", "mlp") if self.placement == "houlsby" else ("mlp",)


Method = Annotated[Full | LoRA | QLoRA | PrefixTuning | Adapter, Field(discriminator="kind")]

METHOD_KINDS: dict[str, type[Spec]] = {
    "full": Full,
    "lora": LoRA,
    "qlora": QLoRA,
    "prefix": PrefixTuning,
    "adapter": Adapter,
}

__all__ = ["METHOD_KINDS", "Adapter", "Full", "LoRA", "Method", "PrefixTuning", "QLoRA"]
