"""GRPO as a Tinker loop: sample, score with tunesdk's rewards, train on group advantages.

Each optimizer step:

1. ``save_weights_and_get_sampling_client()``: a sampler of the current weights (on-policy);
2. ``sample(num_samples=num_generations)`` for each of the step's prompts (submitted together);
3. the job's rewards (`tunesdk.rewards`, graders included) score every completion, with the
   row's other columns as keyword arguments, as TRL calls them; the weighted sum is the reward;
4. advantages are group-normalized, ``(r - mean(group)) / (std(group) + 1e-4)``;
5. ``forward_backward`` with Tinker's ``importance_sampling`` loss (or ``ppo``/``cispo``): the
   sampled tokens as targets, the sampler's logprobs, the advantage on every completion token,
   scaled by 1/(completion tokens in the batch) — DAPO's token-level mean — then ``optim_step``.

KL penalty (``beta`` > 0): TRL's per-token loss ``-ratio·A + β·k3``, with the k3 estimator
``k3 = exp(ref − logp) − (ref − logp) − 1`` against the base model, is *folded into the
per-token advantages*: ``A' = A − β·(1 − exp(ref − logp))``. Tinker's policy losses have the
gradient ``−ratio·A'`` per token, and on-policy (one update per sampling, ratio 1 at the
weights the gradient is taken at) that equals the gradient of TRL's loss exactly, for
``importance_sampling``, ``ppo`` and ``cispo`` alike, with no extra forward pass. ``ref`` comes
from a sampling client of the base model (``compute_logprobs``, as DPO's resumed reference);
``logp`` is the sampler's own logprob of each sampled token (at temperature 1; at another
temperature the current weights are scored with ``compute_logprobs`` too). The reported loss
is the policy term only; ``Progress.kl`` is the batch's mean k3.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

from tunesdk.rewards import RewardError, checked, resolve_reward, reward_name
from tunesdk_tinker import normalize
from tunesdk_tinker.data import Prompt
from tunesdk_tinker.loops import reference
from tunesdk_tinker.loops.common import Loop
from tunesdk_tinker.service import resolved

ADVANTAGE_EPS = 1e-4


def reward_functions(job: Any) -> list[tuple[str, Any]]:
    """(name, checked callable) per reward, names made unique as the trl backend does."""
    functions: list[tuple[str, Any]] = []
    for i, reward in enumerate(job.rewards):
        name = reward_name(reward, i)
        if name in [n for n, _ in functions]:
            name = f"{name}_{i}"
        functions.append((name, checked(resolve_reward(reward, i), name)))
    return functions


def score(
    functions: list[tuple[str, Any]],
    weights: list[float] | None,
    prompts: list[Any],
    completions: list[Any],
    columns: dict[str, list[Any]],
) -> tuple[list[float], dict[str, float]]:
    """The weighted reward of each completion, and each function's mean."""
    totals = [0.0] * len(completions)
    means: dict[str, float] = {}
    for index, (name, function) in enumerate(functions):
        weight = weights[index] if weights else 1.0
        values = function(prompts=prompts, completions=completions, **columns)
        known = [v for v in values if v is not None]
        if known:
            means[name] = sum(known) / len(known)
        for i, value in enumerate(values):
            if value is not None:
                totals[i] += weight * value
    return totals, means


def advantages(rewards: list[float], group: int) -> list[float]:
    out: list[float] = []
    for start in range(0, len(rewards), group):
        chunk = rewards[start : start + group]
        mean = sum(chunk) / len(chunk)
        std = statistics.pstdev(chunk) if len(chunk) > 1 else 0.0
        out += [(r - mean) / (std + ADVANTAGE_EPS) for r in chunk]
    return out


def kl_k3(policy: list[float], ref: list[float]) -> list[float]:
    """TRL's per-token KL estimate of the policy to the reference (Schulman's k3):
    ``exp(ref − logp) − (ref − logp) − 1`` (never negative; 0 where they agree)."""
    return [math.exp(r - p) - (r - p) - 1.0 for p, r in zip(policy, ref, strict=True)]


def kl_advantages(
    advantage: float, policy: list[float], ref: list[float], beta: float
) -> list[float]:
    """Per-token advantages whose policy-loss gradient on-policy is that of ``-A + β·k3``:
    ``d(β·k3)/d logp = β·(1 − exp(ref − logp))``, so ``A' = A − β·(1 − exp(ref − logp))``."""
    return [advantage - beta * (1.0 - math.exp(r - p)) for p, r in zip(policy, ref, strict=True)]


def _datum(
    types: Any, prompt: list[int], tokens: list[int], logprobs: list[float], adv: list[float]
) -> Any:
    import numpy as np

    pad = len(prompt) - 1
    sequence = prompt + tokens
    return types.Datum(
        model_input=types.ModelInput.from_ints(sequence[:-1]),
        loss_fn_inputs={
            "target_tokens": types.TensorData.from_numpy(np.asarray(sequence[1:], dtype=np.int64)),
            "logprobs": types.TensorData.from_numpy(
                np.asarray([0.0] * pad + list(logprobs), dtype=np.float32)
            ),
            "advantages": types.TensorData.from_numpy(
                np.asarray([0.0] * pad + list(adv), dtype=np.float32)
            ),
        },
    )


def _completion_logprobs(
    sampler: Any, types: Any, samples: list[tuple[Prompt, list[int], list[float]]]
) -> list[list[float]]:
    """Each sample's completion-token logprobs under ``sampler`` (temperature 1)."""
    scored = reference.token_logprobs(sampler, types, [p.tokens + t for p, t, _ in samples])
    return [
        lps[len(lps) - len(t) :] if t else []
        for lps, (_, t, _) in zip(scored, samples, strict=True)
    ]


def train(loop: Loop, prompts: list[Prompt]) -> None:
    job = loop.job
    grpo = loop.native["grpo"]
    functions = reward_functions(job)
    group = grpo["num_generations"]
    types = loop.types
    tokenizer = loop.tokenizer
    beta = grpo["beta"]
    base = reference.base_sampler(loop.session, loop.native) if beta > 0 else None
    for step, indices in loop.batches(len(prompts), grpo["prompts_per_step"]):
        started = time.monotonic()
        sampler = resolved(loop.training.save_weights_and_get_sampling_client())
        chosen = [prompts[i] for i in indices]
        futures = [
            sampler.sample(
                prompt=types.ModelInput.from_ints(p.tokens),
                num_samples=group,
                sampling_params=types.SamplingParams(
                    max_tokens=grpo["max_completion_length"],
                    temperature=grpo["temperature"],
                    seed=job.seed + step * 1000 + n,
                ),
            )
            for n, p in enumerate(chosen)
        ]
        samples: list[tuple[Prompt, list[int], list[float]]] = []
        for prompt, future in zip(chosen, futures, strict=True):
            for sequence in resolved(future).sequences:
                logprobs = sequence.logprobs
                if logprobs is None:
                    raise RewardError(
                        "the service returned sampled tokens without their logprobs, which "
                        "Tinker's policy losses need"
                    )
                samples.append((prompt, list(sequence.tokens), list(logprobs)))
        texts = [tokenizer.decode(tokens, skip_special_tokens=True) for _, tokens, _ in samples]
        completions: list[Any] = [
            [{"role": "assistant", "content": text}] if p.chat else text
            for (p, _, _), text in zip(samples, texts, strict=True)
        ]
        keys = sorted({k for p in chosen for k in p.columns})
        columns = {k: [p.columns.get(k) for p, _, _ in samples] for k in keys}
        rewards, per_function = score(
            functions,
            grpo["reward_weights"],
            [p.prompt for p, _, _ in samples],
            completions,
            columns,
        )
        advantage = advantages(rewards, group)
        completion_tokens = sum(len(tokens) for _, tokens, _ in samples)
        scale = 1.0 / max(1, completion_tokens)
        per_token = [
            [a] * len(tokens) for a, (_, tokens, _) in zip(advantage, samples, strict=True)
        ]
        kl: dict[str, float] = {}
        if base is not None:
            refs = _completion_logprobs(base, types, samples)
            policy = (
                [lps for _, _, lps in samples]
                if grpo["temperature"] == 1.0
                else _completion_logprobs(sampler, types, samples)
            )
            per_token = [
                kl_advantages(a, pol, ref, beta)
                for a, pol, ref in zip(advantage, policy, refs, strict=True)
            ]
            estimates = [k for pol, ref in zip(policy, refs, strict=True) for k in kl_k3(pol, ref)]
            kl["kl"] = sum(estimates) / max(1, len(estimates))
        datums = [
            _datum(types, p.tokens, tokens, logprobs, [a * scale for a in adv])
            for (p, tokens, logprobs), adv in zip(samples, per_token, strict=True)
            if tokens
        ]
        futures = [loop.training.forward_backward(datums, grpo["loss_fn"])] if datums else []
        outputs = loop.optimize(step, futures)
        loop.after_step(
            step,
            normalize.summed(outputs) if outputs else 0.0,
            completion_tokens + sum(len(p.tokens) for p, _, _ in samples),
            time.monotonic() - started,
            reward_mean=sum(rewards) / len(rewards),
            reward_std=statistics.pstdev(rewards) if len(rewards) > 1 else 0.0,
            rewards=per_function or None,
            completion_length=completion_tokens / len(samples),
            **kl,
        )
