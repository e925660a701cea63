"""Tinker's built-in losses, token-wise and summed (Tinker does not average over tokens or datums).

Each takes the model's logprobs of ``target_tokens`` for one datum (a 1-D tensor with gradient)
and the datum's loss inputs, and returns the per-token loss, whose sum is what the gradient
follows. ``forward_backward_custom`` needs nothing more: the client turns a custom loss into
``cross_entropy`` with weights ``-dC/dlogprobs``.

- ``cross_entropy``: ``-weights * logprobs`` (weights default to 1)
- ``importance_sampling``: ``-exp(logprobs - sampling_logprobs) * advantages``
- ``ppo``: ``-min(ratio * A, clip(ratio, low, high) * A)``; ``clip_low_threshold`` (0.8) and
  ``clip_high_threshold`` (1.2) from ``loss_fn_config``
- ``cispo``: ``-stop_grad(clip(ratio, low, high)) * A * logprobs``
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch

from tunesdk_tinker.emulator.errors import BadRequest

Inputs = Mapping[str, np.ndarray]
Config = Mapping[str, float | str]
Loss = Callable[[torch.Tensor, Inputs, Config], torch.Tensor]


def cross_entropy(logprobs: torch.Tensor, inputs: Inputs, config: Config) -> torch.Tensor:
    weights = _float(inputs, "weights", len(logprobs), default=1.0)
    return -weights * logprobs


def importance_sampling(logprobs: torch.Tensor, inputs: Inputs, config: Config) -> torch.Tensor:
    ratio = torch.exp(logprobs - _float(inputs, "logprobs", len(logprobs)))
    return -ratio * _float(inputs, "advantages", len(logprobs))


def ppo(logprobs: torch.Tensor, inputs: Inputs, config: Config) -> torch.Tensor:
    advantages = _float(inputs, "advantages", len(logprobs))
    ratio = torch.exp(logprobs - _float(inputs, "logprobs", len(logprobs)))
    low, high = _clip(config)
    clipped = torch.clamp(ratio, low, high)
    return -torch.minimum(ratio * advantages, clipped * advantages)


def cispo(logprobs: torch.Tensor, inputs: Inputs, config: Config) -> torch.Tensor:
    advantages = _float(inputs, "advantages", len(logprobs))
    ratio = torch.exp(logprobs - _float(inputs, "logprobs", len(logprobs)))
    low, high = _clip(config)
    return -torch.clamp(ratio, low, high).detach() * advantages * logprobs


LOSSES: dict[str, Loss] = {
    "cross_entropy": cross_entropy,
    "importance_sampling": importance_sampling,
    "ppo": ppo,
    "cispo": cispo,
}


def loss_fn(name: str) -> Loss:
    """The loss called ``name``; BadRequest naming the supported ones."""
    if name not in LOSSES:
        raise BadRequest(
            f"loss_fn {name!r} is not implemented by the offline Tinker server; supported: "
            f"{', '.join(LOSSES)} (forward_backward_custom works too: it runs as cross_entropy)"
        )
    return LOSSES[name]


def _float(inputs: Inputs, name: str, length: int, default: float | None = None) -> torch.Tensor:
    if name not in inputs:
        if default is not None:
            return torch.full((length,), default)
        raise BadRequest(f"this loss needs loss_fn_inputs[{name!r}] (one value per target token)")
    values = inputs[name]
    if values.size != length:
        raise BadRequest(
            f"loss_fn_inputs[{name!r}] has {values.size} values but target_tokens has {length}"
        )
    return torch.from_numpy(values.astype(np.float32))


def _clip(config: Config) -> tuple[float, float]:
    try:
        return float(config.get("clip_low_threshold", 0.8)), float(
            config.get("clip_high_threshold", 1.2)
        )
    except ValueError:
        raise BadRequest("clip_low_threshold and clip_high_threshold must be numbers") from None


__all__ = ["LOSSES", "loss_fn"]
