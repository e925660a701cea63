"""Sampling: token-by-token generation with the logprob of every sampled token.

A sampler is a base model plus, optionally, LoRA weights (a snapshot of a training client, or a
saved checkpoint). Logprobs are those of the distribution each token was drawn from: the model's
``log_softmax(logits / temperature)`` before top-k/top-p truncation (at temperature 0, greedy,
of ``log_softmax(logits)``), which is what importance-sampling losses expect as ``logprobs``.
Generation stops at ``max_tokens``, or at a stop token or string (kept in the output); with
``stop=None`` the model's EOS tokens stop it, with ``stop=[]`` nothing does.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from tunesdk_tinker.emulator.errors import BadRequest
from tunesdk_tinker.emulator.training import check_vocabulary
from tunesdk_tinker.emulator.wire import SampledSequence

#: max_tokens when the request leaves it unset
DEFAULT_MAX_TOKENS = 64


@dataclass(frozen=True)
class Params:
    """The client's ``SamplingParams`` (JSON), checked."""

    max_tokens: int
    temperature: float
    top_k: int
    top_p: float
    seed: int | None
    stop_tokens: frozenset[int]
    stop_strings: tuple[str, ...]

    @classmethod
    def parse(cls, raw: dict[str, Any], eos: Sequence[int]) -> Params:
        max_tokens = raw.get("max_tokens") or DEFAULT_MAX_TOKENS
        temperature = float(raw.get("temperature", 1.0))
        top_p = float(raw.get("top_p", 1.0))
        if max_tokens < 1 or temperature < 0 or not 0 < top_p <= 1:
            raise BadRequest(
                "sampling_params: max_tokens must be >= 1, temperature >= 0, 0 < top_p <= 1"
            )
        stop = raw.get("stop")
        strings: tuple[str, ...]
        if stop is None:
            tokens, strings = frozenset(eos), ()
        elif isinstance(stop, str):
            tokens, strings = frozenset(), (stop,)
        elif all(isinstance(s, int) for s in stop):
            tokens, strings = frozenset(stop), ()
        else:
            tokens, strings = frozenset(), tuple(str(s) for s in stop)
        return cls(
            int(max_tokens),
            temperature,
            int(raw.get("top_k", -1)),
            top_p,
            raw.get("seed"),
            tokens,
            strings,
        )


def eos_ids(model: Any, tokenizer: Any) -> list[int]:
    """The tokens that end a generation for this model (generation config, else tokenizer)."""
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if configured is None:
        configured = tokenizer.eos_token_id
    if configured is None:
        return []
    return [configured] if isinstance(configured, int) else list(configured)


@torch.no_grad()
def prompt_logprobs(model: Any, prompt: Sequence[int]) -> list[float]:
    """Logprob of each prompt token given the ones before it (NaN for the first)."""
    ids = torch.tensor([list(prompt)], device=_device(model))
    logprobs = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
    scored = logprobs[:-1].gather(-1, ids[0, 1:, None]).squeeze(-1)
    return [float("nan"), *scored.cpu().tolist()]


@torch.no_grad()
def sample(
    model: Any, tokenizer: Any, prompt: Sequence[int], num_samples: int, params: Params
) -> list[SampledSequence]:
    """``num_samples`` continuations of ``prompt``, generated together as one batch."""
    if not prompt:
        raise BadRequest("sample: the prompt is empty")
    if not 1 <= num_samples <= 128:
        raise BadRequest("sample: num_samples must be between 1 and 128")
    check_vocabulary(model, prompt, "prompt")
    generator = torch.Generator(device=_device(model))
    if params.seed is not None:
        generator.manual_seed(int(params.seed))
    else:
        generator.seed()
    ids = torch.tensor([list(prompt)] * num_samples, device=_device(model))
    cache_arg = _cache_argument(model)
    output = model(input_ids=ids, use_cache=True)
    tokens: list[list[int]] = [[] for _ in range(num_samples)]
    logprobs: list[list[float]] = [[] for _ in range(num_samples)]
    stopped = [False] * num_samples
    for _ in range(params.max_tokens):
        chosen, chosen_logprobs = _draw(output.logits[:, -1].float(), params, generator)
        for row in range(num_samples):
            if stopped[row]:
                continue
            token = int(chosen[row])
            tokens[row].append(token)
            logprobs[row].append(float(chosen_logprobs[row]))
            stopped[row] = token in params.stop_tokens or _ends_with_stop(
                tokenizer, tokens[row], params.stop_strings
            )
        if all(stopped):
            break
        cache = getattr(output, cache_arg)
        output = model(input_ids=chosen[:, None], use_cache=True, **{cache_arg: cache})
    return [SampledSequence(tokens[row], logprobs[row], stopped[row]) for row in range(num_samples)]


def _draw(
    logits: torch.Tensor, params: Params, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    if params.temperature == 0:
        logprobs = torch.log_softmax(logits, dim=-1)
        chosen = logprobs.argmax(dim=-1)
        return chosen, logprobs.gather(-1, chosen[:, None]).squeeze(-1)
    logprobs = torch.log_softmax(logits / params.temperature, dim=-1)
    filtered = logprobs.clone()
    if 0 < params.top_k < filtered.shape[-1]:
        kth = filtered.topk(params.top_k, dim=-1).values[:, -1:]
        filtered[filtered < kth] = float("-inf")
    if params.top_p < 1:
        ordered, order = filtered.sort(dim=-1, descending=True)
        cumulative = ordered.exp().cumsum(dim=-1)
        drop = cumulative - ordered.exp() > params.top_p
        filtered.scatter_(-1, order, ordered.masked_fill(drop, float("-inf")))
    chosen = torch.multinomial(filtered.exp(), 1, generator=generator).squeeze(-1)
    return chosen, logprobs.gather(-1, chosen[:, None]).squeeze(-1)


def _ends_with_stop(tokenizer: Any, tokens: list[int], stops: tuple[str, ...]) -> bool:
    if not stops:
        return False
    text = tokenizer.decode(tokens[-16:])
    return any(text.endswith(stop) for stop in stops)


def _cache_argument(model: Any) -> str:
    """``cache`` (transformers >= 5.24) or ``past_key_values`` (earlier): the KV cache's name,
    both as a forward argument and as an output field."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return (
        "cache"
        if "cache" in inspect.signature(type(inner).forward).parameters
        else "past_key_values"
    )


def _device(model: Any) -> torch.device:
    return next(model.parameters()).device


__all__ = ["DEFAULT_MAX_TOKENS", "Params", "eos_ids", "prompt_logprobs", "sample"]
