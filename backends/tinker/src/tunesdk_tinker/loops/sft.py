"""SFT: ``forward_backward(cross_entropy)`` on weighted Datums, then ``optim_step``.

Each optimizer step takes ``batch_size`` examples; with a smaller ``micro_batch_size`` they go in
several forward_backward calls (the service accumulates the gradients until ``optim_step``).
Every datum's weights are 1/(learned tokens in the whole batch), so the step's summed loss is
the batch's mean per-token NLL — the loss TRL's SFTTrainer logs.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tunesdk_tinker import normalize
from tunesdk_tinker.data import Sequence, batch_datums, datum
from tunesdk_tinker.loops.common import Loop
from tunesdk_tinker.service import resolved


def evaluator(sequences: list[Sequence], size: int) -> Callable[[Loop], float | None]:
    """Eval loss: ``forward`` (no gradients) over the eval set, the mean per-token NLL."""

    def evaluate(loop: Loop) -> float | None:
        total = sum(s.learned_targets for s in sequences)
        futures = [
            loop.training.forward(
                [datum(loop.types, s, 1.0 / total) for s in sequences[i : i + size]],
                "cross_entropy",
            )
            for i in range(0, len(sequences), size)
        ]
        return normalize.summed([resolved(f) for f in futures])

    return evaluate


def train(loop: Loop, sequences: list[Sequence]) -> None:
    job = loop.job
    micro = job.effective_micro_batch_size
    for step, indices in loop.batches(len(sequences), job.batch_size):
        started = time.monotonic()
        batch = [sequences[i] for i in indices]
        datums = batch_datums(loop.types, batch)
        futures = [
            loop.training.forward_backward(datums[i : i + micro], "cross_entropy")
            for i in range(0, len(datums), micro)
        ]
        outputs = loop.optimize(step, futures)
        tokens = sum(len(s.tokens) for s in batch)
        loop.after_step(step, normalize.summed(outputs), tokens, time.monotonic() - started)
