"""DPO as a Tinker loop: the sigmoid DPO loss through ``forward_backward_custom``.

- Reference: the base model's summed logprobs of every response, computed once before the first
  update with ``TrainingClient.forward`` (a fresh LoRA adapter is zero, so the untrained model
  *is* the base). A resumed run, whose training client already holds trained weights, asks a
  sampling client of the base model instead (``compute_logprobs``).
- Loss: ``-log σ(β·((π_c − ref_c) − (π_r − ref_r)))``, the mean over the batch's pairs (TRL's
  ``sigmoid`` loss); the SDK runs the forward pass, this module differentiates the loss, the
  service back-propagates it (weights ``-dLoss/dlogprobs``).
- Eval: the same loss from a ``forward`` pass over the eval pairs, with reward accuracy and
  margin as metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from tunesdk_tinker import normalize
from tunesdk_tinker.data import Pair, Sequence, datum
from tunesdk_tinker.loops import reference as base_logprobs
from tunesdk_tinker.loops.common import Loop, Session
from tunesdk_tinker.service import resolved


def _sequences(pairs: list[Pair]) -> list[Sequence]:
    return [s for pair in pairs for s in (pair.chosen, pair.rejected)]


def _masked_sum(sequence: Sequence, logprobs: Iterable[float | None]) -> float:
    """Σ logprob over the learned targets (``logprobs[i]`` is target ``i``'s)."""
    return float(
        sum(lp for lp, keep in zip(logprobs, sequence.learned[1:], strict=False) if keep and lp)
    )


def reference(
    session: Session, native: dict[str, Any], pairs: list[Pair], size: int
) -> list[float]:
    """Summed base-model logprobs of each response (chosen, rejected, chosen, ...)."""
    sequences = _sequences(pairs)
    types = session.types
    if session.resumed_step == 0:
        futures = [
            session.training.forward(
                [datum(types, s, 1.0) for s in sequences[i : i + size]], "cross_entropy"
            )
            for i in range(0, len(sequences), size)
        ]
        outputs = [out for f in futures for out in resolved(f).loss_fn_outputs]
        return [
            _masked_sum(s, out["logprobs"].tolist())
            for s, out in zip(sequences, outputs, strict=True)
        ]
    base = base_logprobs.base_sampler(session, native)
    per_token = base_logprobs.token_logprobs(base, types, [s.tokens for s in sequences])
    return [_masked_sum(s, lps) for s, lps in zip(sequences, per_token, strict=True)]


def dpo_terms(policy: Any, ref: Any, beta: float) -> tuple[Any, dict[str, float]]:
    """Per-pair losses and the batch's metrics from interleaved (chosen, rejected) sums."""
    import torch.nn.functional as F

    chosen = beta * (policy[0::2] - ref[0::2])
    rejected = beta * (policy[1::2] - ref[1::2])
    losses = -F.logsigmoid(chosen - rejected)
    metrics = {
        "rewards/chosen": float(chosen.detach().mean()),
        "rewards/rejected": float(rejected.detach().mean()),
        "rewards/accuracies": float((chosen > rejected).float().mean()),
        "rewards/margins": float((chosen - rejected).detach().mean()),
    }
    return losses, metrics


def custom_loss(refs: list[float], beta: float, scale: float) -> Callable[..., Any]:
    """The loss ``forward_backward_custom`` differentiates for one call's pairs; ``scale`` turns
    the call's sum into its share of the batch mean."""

    def loss(data: list[Any], logprobs_list: list[Any]) -> tuple[Any, dict[str, float]]:
        import torch

        policy = torch.stack(
            [
                (lp * d.loss_fn_inputs["weights"].to_torch()).sum()
                for d, lp in zip(data, logprobs_list, strict=True)
            ]
        )
        losses, metrics = dpo_terms(policy, torch.tensor(refs, dtype=policy.dtype), beta)
        return losses.sum() * scale, metrics

    return loss


def evaluator(
    pairs: list[Pair], refs: list[float], beta: float, size: int
) -> Callable[[Loop], float | None]:
    sequences = _sequences(pairs)

    def evaluate(loop: Loop) -> float | None:
        import torch

        futures = [
            loop.training.forward(
                [datum(loop.types, s, 1.0) for s in sequences[i : i + size]], "cross_entropy"
            )
            for i in range(0, len(sequences), size)
        ]
        outputs = [out for f in futures for out in resolved(f).loss_fn_outputs]
        policy = torch.tensor(
            [
                _masked_sum(s, out["logprobs"].tolist())
                for s, out in zip(sequences, outputs, strict=True)
            ]
        )
        losses, metrics = dpo_terms(policy, torch.tensor(refs), beta)
        loop.last_eval_metrics = metrics
        return float(losses.mean())

    return evaluate


def train(loop: Loop, pairs: list[Pair], refs: list[float]) -> None:
    job = loop.job
    beta = loop.native["dpo"]["beta"]
    micro = job.effective_micro_batch_size
    for step, indices in loop.batches(len(pairs), job.batch_size):
        started = time.monotonic()
        futures = []
        for start in range(0, len(indices), micro):
            chunk = indices[start : start + micro]
            sequences = _sequences([pairs[i] for i in chunk])
            chunk_refs = [r for i in chunk for r in (refs[2 * i], refs[2 * i + 1])]
            futures.append(
                loop.training.forward_backward_custom(
                    [datum(loop.types, s, 1.0) for s in sequences],
                    custom_loss(chunk_refs, beta, 1.0 / len(indices)),
                )
            )
        outputs = loop.optimize(step, futures)
        tokens = sum(len(s.tokens) for i in indices for s in (pairs[i].chosen, pairs[i].rejected))
        loop.after_step(step, normalize.summed(outputs), tokens, time.monotonic() - started)
