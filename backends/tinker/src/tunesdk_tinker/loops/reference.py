"""Per-token logprobs of token sequences under a sampling client: the base model's (the
reference of DPO and of GRPO's KL penalty) or the current weights'.

``SamplingClient.compute_logprobs`` scores a whole sequence at temperature 1; entry ``i`` is the
logprob of token ``i`` given the tokens before it (entry 0, the first token, has none).
"""

from __future__ import annotations

from typing import Any

from tunesdk_tinker.service import resolved


def base_sampler(session: Any, native: dict[str, Any]) -> Any:
    """A sampling client of the untrained base model (no adapter): the reference policy."""
    return resolved(session.service.create_sampling_client(base_model=native["base_model"]))


def token_logprobs(sampler: Any, types: Any, sequences: list[list[int]]) -> list[list[float]]:
    """Each sequence's per-token logprobs, ``[logprob(token 1 | token 0), ...]`` (one fewer than
    its tokens); all requests are submitted before the first is awaited."""
    futures = [sampler.compute_logprobs(types.ModelInput.from_ints(s)) for s in sequences]
    return [[float(lp or 0.0) for lp in list(resolved(f))[1:]] for f in futures]


__all__ = ["base_sampler", "token_logprobs"]
