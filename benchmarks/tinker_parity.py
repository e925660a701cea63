"""Loss parity of the tinker backend (on the offline Tinker server) with the trl backend.

One tiny SFT+LoRA job, trained twice in this process: through ``TRLBackend.train`` (TRL's
SFTTrainer, PEFT) and through ``TinkerBackend.train`` against the offline Tinker server (the
official ``tinker`` client, the server's torch + PEFT). Prints the per-step losses, the largest
per-step difference and the wall times as JSON::

    .venv/bin/python benchmarks/tinker_parity.py [--steps 4] [--examples 8]

What is the same on both sides: the tokens and the learned-token mask (tunesdk's
``render_with_mask``), the loss (mean NLL over the batch's learned tokens: the tinker loop scales
each datum's weights by 1/learned tokens in the batch, TRL divides by ``num_items_in_batch``), the
learning-rate schedule (transformers' formulas), AdamW with torch's defaults and the clipping
norm, LoRA rank, alpha (the server's ``lora_alpha`` = the job's ``alpha``), no dropout, every
linear layer but ``lm_head``.

Measured here (tiny Llama, 8 examples, 4 steps, CPU): every per-step loss agrees within
5e-7 (relative 1e-7) and every gradient norm within 2e-7 relative, i.e. float32 rounding: the server sums weighted per-token losses, TRL
averages them. The LoRA ``A`` matrices start equal too: both sides seed torch with the job's seed
right before PEFT creates the adapter. What could make them drift apart, and why the test allows
1e-5 rather than 0:

- summation order (per datum on the server, per batch in TRL) in float32;
- the example order, which the two samplers shuffle differently: one batch holds the whole
  dataset (``batch_size = examples``) so it does not matter here; with several batches per
  epoch the per-step losses differ (the epoch means still agree).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import tunesdk as ts
from tunesdk.events import Progress
from tunesdk.testing import tiny_chat_data, tiny_model

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _common, also when loaded by path
from _common import train_in_process

ALPHA = 32.0


def make_job(model: Path, examples: int = 8, steps: int = 4) -> ts.Job:
    return ts.Job(
        model=str(model),
        data=tiny_chat_data(examples, seed=3),
        method=ts.LoRA(r=4, alpha=ALPHA, dropout=0.0, target_modules="all-linear"),
        batch_size=examples,
        max_steps=steps,
        epochs=steps,
        learning_rate=5e-3,
        warmup_ratio=0.0,
        max_seq_length=64,
        seed=7,
        backend_options={"trl": {"save_strategy": "no"}},
    )


def losses(events: list[Any]) -> list[float]:
    return [e.train_loss for e in events if isinstance(e, Progress) and e.train_loss]


def grad_norms(events: list[Any]) -> list[float | None]:
    return [e.grad_norm for e in events if isinstance(e, Progress)]


def compare(job: ts.Job, home: Path) -> dict[str, Any]:
    """Both sides' losses, gradient norms and wall times; the tinker side needs
    TINKER_BASE_URL/KEY pointing at a server."""
    from tunesdk_tinker import TinkerBackend
    from tunesdk_trl import TRLBackend

    trl_events, trl_wall = train_in_process(TRLBackend(), job, home, list)
    tinker_events, tinker_wall = train_in_process(TinkerBackend(), job, home, list)
    trl_losses, tinker_losses = losses(trl_events), losses(tinker_events)
    norms = list(zip(grad_norms(trl_events), grad_norms(tinker_events), strict=True))
    pairs = list(zip(trl_losses, tinker_losses, strict=True))
    diffs = [abs(a - b) for a, b in pairs]
    return {
        "steps": len(pairs),
        "trl": trl_losses,
        "tinker": tinker_losses,
        "first_step_abs_diff": diffs[0],
        "max_abs_loss_diff": max(diffs),
        "max_rel_loss_diff": max(d / abs(a) for d, (a, _) in zip(diffs, pairs, strict=True)),
        "trl_grad_norm": [a for a, _ in norms],
        "tinker_grad_norm": [b for _, b in norms],
        "max_rel_grad_norm_diff": max(
            (abs(a - b) / a for a, b in norms if a and b is not None), default=None
        ),
        "trl_wall_s": round(trl_wall, 3),
        "tinker_wall_s": round(tinker_wall, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--examples", type=int, default=8)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from tunesdk_tinker.emulator import TinkerServer

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        model = tiny_model(root / "model")
        server = TinkerServer(default_model=str(model), state_dir=root / "server", lora_alpha=ALPHA)
        with server:
            os.environ.update(server.env())
            report = compare(make_job(model, args.examples, args.steps), root / "home")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
