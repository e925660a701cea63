"""``job.estimate()``: training tokens, cost per managed provider, GPU memory per method."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from tunesdk.errors import JobError
from tunesdk.estimation.architectures import (
    Architecture,
    normalize_model_id,
    parse_param_count,
    resolve_architecture,
)
from tunesdk.estimation.memory import Dtype, MethodKind, MethodMemory, method_memory
from tunesdk.estimation.prices import PROVIDERS, CostEstimate, load_prices, provider_cost
from tunesdk.estimation.tokens import TokenEstimate, count_training_tokens
from tunesdk.methods import Full, LoRA, QLoRA

if TYPE_CHECKING:
    from tunesdk.job import Job

OPENAI_MODEL_PREFIXES = ("gpt-", "ft:gpt-", "o4-mini")
DISCLAIMER = (
    "ESTIMATE: token counts may use an approximate tokenizer, prices come from a dated table, and "
    "memory is computed from a model of the training step, not measured."
)


class ArchitectureInfo(BaseModel):
    params: int
    source: str = Field(description="config.json path, built-in table key, or the params override")
    shapes: Architecture


class Estimate(BaseModel):
    """What a job will take before it runs. Every number here is an estimate."""

    is_estimate: Literal[True] = True
    disclaimer: str = DISCLAIMER
    model: str
    objective: Literal["sft", "dpo"]
    method: str
    tokens: TokenEstimate
    price_table_checked: dt.date
    costs: list[CostEstimate]
    architecture: ArchitectureInfo | None = None
    memory: list[MethodMemory] = Field(default_factory=list)
    memory_unavailable: str | None = Field(None, description="why memory is missing, and the fix")
    assumptions: list[str] = Field(default_factory=list)

    def render(self, width: int = 160) -> str:
        """Tokens, costs, memory and assumptions as plain-text tables."""
        from tunesdk.estimation.report import render

        return render(self, width=width)

    def __str__(self) -> str:
        return self.render()

    def cost(self, provider: str) -> CostEstimate:
        """The cost row of ``provider``."""
        for row in self.costs:
            if row.provider == provider:
                return row
        raise KeyError(provider)

    def memory_for(self, method: str) -> MethodMemory:
        """The memory row of ``method`` (full, lora or qlora)."""
        for row in self.memory:
            if row.method == method:
                return row
        raise KeyError(method)


def _implementation(job: Job) -> str | None:
    if isinstance(job.method, LoRA):  # QLoRA included: providers train it as LoRA
        return "lora"
    if isinstance(job.method, Full):
        return "full"
    return None


def _memory_rows(
    job: Job,
    arch: Architecture,
    params: int,
    *,
    seq_len: int,
    objective: str,
    dtype: Dtype,
    gradient_checkpointing: bool,
) -> list[MethodMemory]:
    lora = job.method if isinstance(job.method, LoRA) else LoRA()
    quant = job.method if isinstance(job.method, QLoRA) else QLoRA()
    rows = []
    kinds: tuple[MethodKind, ...] = ("full", "lora", "qlora")
    for method in kinds:
        rows.append(
            method_memory(
                arch,
                method,
                params=params,
                lora_r=lora.r,
                lora_targets=lora.target_modules,
                dora=lora.use_dora,
                bits=quant.bits,
                double_quant=quant.double_quant,
                dtype=dtype,
                micro_batch=job.effective_micro_batch_size,
                seq_len=seq_len,
                gradient_checkpointing=gradient_checkpointing,
                objective=objective,
                selected=job.method.kind == method,
            )
        )
    return rows


def estimate_job(
    job: Job,
    *,
    prices: str | Path | Mapping[str, Any] | None = None,
    params: str | int | float | None = None,
    tokenizer: Any = "auto",
    dtype: Dtype = "bfloat16",
    gradient_checkpointing: bool = True,
) -> Estimate:
    """See `tunesdk.Job.estimate`."""
    if dtype not in ("float32", "bfloat16", "float16"):
        raise JobError(
            f"dtype={dtype!r} is not one the estimate knows",
            fix='use "bfloat16" (GPU default), "float16" or "float32"',
        )
    if params is not None:
        parse_param_count(params)  # a bad size is the caller's error, not "memory unavailable"
    table = load_prices(prices)
    tokens = count_training_tokens(job, tokenizer)
    objective = tokens.objective
    assumptions = [
        f"{tokens.training_tokens:,} training tokens = {tokens.tokens_per_epoch:,} per epoch "
        f"× {tokens.epochs} epoch(s), each example capped at max_seq_length={job.max_seq_length}; "
        f"counted with {tokens.counter}",
    ]
    if tokens.note:
        assumptions.append(tokens.note)

    resolved = None
    memory: list[MethodMemory] = []
    unavailable = None
    if params is None and job.model_name.startswith(OPENAI_MODEL_PREFIXES):
        unavailable = "not applicable: OpenAI trains its own models on its own hardware"
    else:
        try:
            resolved = resolve_architecture(job.model_name, params)
        except JobError as exc:
            unavailable = str(exc)
    if resolved is not None:
        seq_len = job.max_seq_length if job.packing else max(1, tokens.longest_example)
        memory = _memory_rows(
            job,
            resolved.architecture,
            resolved.params,
            seq_len=seq_len,
            objective=objective,
            dtype=dtype,
            gradient_checkpointing=gradient_checkpointing,
        )
        assumptions.append(
            f"memory: one process, {dtype} weights and activations, micro-batch "
            f"{job.effective_micro_batch_size} × {seq_len} tokens "
            f"({'packed to max_seq_length' if job.packing else 'longest example'}), "
            f"AdamW, gradient checkpointing {'on' if gradient_checkpointing else 'off'}, "
            "fused attention; shapes from " + resolved.source
        )

    implementation = _implementation(job)
    known_params = resolved.params if resolved is not None else None
    costs = [
        provider_cost(
            name,
            table.providers[name],
            model_key=normalize_model_id(job.model_for(name)),
            params=known_params,
            implementation=implementation,
            objective=objective,
            training_tokens=tokens.training_tokens,
        )
        for name in PROVIDERS
        if name in table.providers
    ]
    return Estimate(
        model=job.model_name,
        objective=objective,
        method=job.method.kind,
        tokens=tokens,
        price_table_checked=table.checked,
        costs=costs,
        architecture=(
            ArchitectureInfo(
                params=resolved.params, source=resolved.source, shapes=resolved.architecture
            )
            if resolved is not None
            else None
        ),
        memory=memory,
        memory_unavailable=unavailable,
        assumptions=assumptions,
    )
