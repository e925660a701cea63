"""The learning rate of each optimizer step, computed client-side (Tinker takes a rate per
``optim_step``), with the same formulas as transformers' schedulers so a job's curve matches
the trl backend's: warmup is ``ceil(warmup_ratio × total_steps)`` steps rising linearly from 0,
then the scheduler's decay. Step indices count from 0 (the first update uses ``rate(0)``).
"""

from __future__ import annotations

import math

SCHEDULERS = (
    "linear",
    "cosine",
    "constant",
    "constant_with_warmup",
    "cosine_with_restarts",
    "polynomial",
)
#: transformers' defaults for the schedulers that take more arguments
POLYNOMIAL_LR_END = 1e-7
POLYNOMIAL_POWER = 1.0


def warmup_steps(total_steps: int, warmup_ratio: float) -> int:
    """transformers 5: a ``warmup_steps`` below 1 is a ratio, rounded up."""
    return math.ceil(total_steps * warmup_ratio)


def learning_rate(
    step: int, *, peak: float, total_steps: int, warmup_ratio: float, scheduler: str
) -> float:
    """The rate of optimizer step ``step`` (0-based) of ``total_steps``."""
    warmup = 0 if scheduler == "constant" else warmup_steps(total_steps, warmup_ratio)
    if step < warmup:
        return peak * step / max(1, warmup)
    progress = (step - warmup) / max(1, total_steps - warmup)
    if scheduler in ("constant", "constant_with_warmup"):
        factor = 1.0
    elif scheduler == "linear":
        factor = max(0.0, (total_steps - step) / max(1, total_steps - warmup))
    elif scheduler == "cosine":
        factor = max(0.0, 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress)))
    elif scheduler == "cosine_with_restarts":  # one cycle, transformers' default
        factor = 0.0 if progress >= 1.0 else max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))
    elif scheduler == "polynomial":
        if step > total_steps:
            return POLYNOMIAL_LR_END
        remaining = 1 - (step - warmup) / max(1, total_steps - warmup)
        return (peak - POLYNOMIAL_LR_END) * remaining**POLYNOMIAL_POWER + POLYNOMIAL_LR_END
    else:
        raise ValueError(f"unknown lr_scheduler {scheduler!r} (known: {', '.join(SCHEDULERS)})")
    return peak * factor


__all__ = ["SCHEDULERS", "learning_rate", "warmup_steps"]
