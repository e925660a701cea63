"""Parity of tunesdk's trl backend with plain TRL: same job, same seed, same tiny model.

Runs one SFT+LoRA job twice on the CPU (or GPU when present), through ``TRLBackend.train`` and
through a hand-written ``SFTTrainer`` script following TRL's docs (conversational dataset,
``assistant_only_loss=True``), then prints the largest per-step loss difference and the wall-time
ratio as JSON::

    .venv/bin/python benchmarks/trl_parity.py [--steps 100] [--examples 64] [--model PATH]

Neither side writes intermediate checkpoints (their cost is the disk's, not the loop's).
``wall_ratio`` compares the training alone (both in this process); ``worker_startup_s`` is what
``job.run()`` adds around it (the worker process starting Python and importing torch/TRL).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import tunesdk as ts
from tunesdk.events import Progress
from tunesdk.testing import tiny_chat_data, tiny_model
from tunesdk_trl import TRLBackend

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _common, also when loaded by path
from _common import (
    alternate,
    loss_recorder,
    plain_training_args,
    run_through_worker,
    train_in_process,
    wall_report,
)


def make_job(model: Path, examples: int, steps: int) -> ts.Job:
    return ts.Job(
        model=str(model),
        data=tiny_chat_data(examples),
        method=ts.LoRA(r=8, target_modules="all-linear"),
        batch_size=4,
        max_steps=steps,
        learning_rate=5e-3,
        max_seq_length=64,
        seed=7,
        backend_options={"trl": {"save_strategy": "no"}},
    )


def run_tunesdk(job: ts.Job, home: Path) -> tuple[list[float], float]:
    return train_in_process(TRLBackend(), job, home, _losses)


def _losses(events: list[Any]) -> list[float]:
    return [e.train_loss for e in events if isinstance(e, Progress) and e.train_loss]


def run_plain_trl(job: ts.Job, output_dir: Path) -> tuple[list[float], float]:
    """The same training written directly against TRL, as its documentation shows."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    recorder, losses = loss_recorder()
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(job.model_name)
    model = AutoModelForCausalLM.from_pretrained(job.model_name)
    config = SFTConfig(
        **plain_training_args(job, output_dir),
        max_length=job.max_seq_length,
        bf16=False,
        assistant_only_loss=True,
    )
    method = job.method
    assert isinstance(method, ts.LoRA)
    peft_config = LoraConfig(
        task_type="CAUSAL_LM",
        r=method.r,
        lora_alpha=int(method.alpha or 2 * method.r),
        lora_dropout=method.dropout,
        target_modules=method.target_modules,
    )
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(job.data),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[recorder],
    )
    trainer.train()
    trainer.save_model(str(output_dir / "model"))
    return losses, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--model", type=Path, help="a local model folder (default: the tiny model)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per side; the fastest counts")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = args.model or tiny_model(root / "model")
        report = compare(
            make_job(model, args.examples, args.steps), root, args.repeats, startup=True
        )
    print(json.dumps(report, indent=2))


def compare(job: ts.Job, root: Path, repeats: int = 2, *, startup: bool = False) -> dict[str, Any]:
    """Both sides ``repeats`` times, alternating (the first run also pays for imports)."""
    plain, ours, plain_wall, our_wall = alternate(
        lambda out: run_plain_trl(job, out), lambda home: run_tunesdk(job, home), root, repeats
    )
    diffs = [abs(a - b) for a, b in zip(ours, plain, strict=True)]
    report: dict[str, Any] = {
        "steps": len(ours),
        "max_abs_loss_diff": max(diffs),
        **wall_report(plain_wall, our_wall, plain_key="plain_trl_wall_s"),
        "tunesdk_losses": ours,
        "plain_trl_losses": plain,
    }
    if startup:
        # job.run() around the same training: worker process start-up and run bookkeeping
        whole_run = run_through_worker(job, "trl", root / "worker-home")
        report["worker_startup_s"] = round(whole_run - our_wall, 3)
    return report


if __name__ == "__main__":
    main()
