"""Parity of tunesdk's unsloth backend with plain Unsloth, on the CPU (Unsloth's CPU mode).

Runs one SFT+LoRA job on the tiny model twice, in the unsloth engine environment: through
``UnslothBackend.train`` and through the script Unsloth's docs show (``FastLanguageModel``
``from_pretrained`` + ``get_peft_model``, TRL's ``SFTTrainer``, assistant-only loss), then prints
the largest per-step loss difference and the wall-time ratio (training alone; the fastest of
``--repeats`` runs per side) as JSON::

    .venv/bin/python benchmarks/unsloth_parity.py [--steps 30] [--repeats 2]

Started from the caller's interpreter it re-runs itself in the engine's (``tunesdk engine install
unsloth``, or ``$TUNESDK_UNSLOTH_PYTHON``), with this checkout's tunesdk linked in, as the worker is.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _common, also when loaded by path
from _common import (
    alternate,
    loss_recorder,
    plain_training_args,
    train_in_process,
    wall_report,
)

IN_ENGINE = "TUNESDK_UNSLOTH_PARITY_IN_ENGINE"


def make_job(model: Path, examples: int, steps: int) -> Any:
    import tunesdk as ts
    from tunesdk.testing import tiny_chat_data

    return ts.Job(
        model=str(model),
        data=tiny_chat_data(examples),
        method=ts.LoRA(r=8),
        batch_size=4,
        max_steps=steps,
        learning_rate=5e-3,
        max_seq_length=64,
        seed=7,
        backend_options={"unsloth": {"allow_cpu": True, "save_strategy": "no"}},
    )


def run_tunesdk(job: Any, home: Path) -> tuple[list[float], float]:
    from tunesdk.events import Progress
    from tunesdk_unsloth import UnslothBackend

    def losses(events: list[Any]) -> list[float]:
        return [e.train_loss for e in events if isinstance(e, Progress) and e.train_loss]

    return train_in_process(UnslothBackend(), job, home, losses)


def run_plain_unsloth(job: Any, output_dir: Path) -> tuple[list[float], float]:
    """The same training written directly against Unsloth, as its documentation shows."""
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer
    from unsloth import FastLanguageModel

    recorder, losses = loss_recorder()
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(job.model_name)
    model, _ = FastLanguageModel.from_pretrained(
        model_name=job.model_name,
        max_seq_length=job.max_seq_length,
        dtype=None,
        load_in_4bit=False,
        random_state=job.seed,
    )
    model = FastLanguageModel.get_peft_model(
        model,
        r=8,
        lora_alpha=16,
        lora_dropout=0.0,
        target_modules=[
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "gate_proj",
            "up_proj",
            "down_proj",
        ],
        bias="none",
        use_gradient_checkpointing="unsloth",
        random_state=job.seed,
    )
    config = SFTConfig(
        **plain_training_args(job, output_dir),
        max_length=job.max_seq_length,
        assistant_only_loss=True,
    )
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(job.data),
        processing_class=tokenizer,
        callbacks=[recorder],
    )
    trainer.train()
    return losses, time.perf_counter() - start


def compare(steps: int, examples: int, repeats: int) -> dict[str, Any]:
    import unsloth  # noqa: F401  (first: it patches transformers, peft and trl)

    from tunesdk.testing import tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        job = make_job(tiny_model(root / "model"), examples, steps)
        plain, ours, plain_wall, our_wall = alternate(
            lambda out: run_plain_unsloth(job, out),
            lambda home: run_tunesdk(job, home),
            root,
            repeats,
        )
    diffs = [abs(a - b) for a, b in zip(ours, plain, strict=False)]
    return {
        "steps": steps,
        "device": "cpu (Unsloth's CPU mode)",
        "plain_final_loss": plain[-1] if plain else None,
        "tunesdk_final_loss": ours[-1] if ours else None,
        "max_loss_diff": max(diffs) if diffs else None,
        **wall_report(plain_wall, our_wall, plain_key="plain_wall_s"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2, help="runs per side; the fastest counts")
    args = parser.parse_args()
    if os.environ.get(IN_ENGINE) != "1":
        from tunesdk import engines

        found = engines.find("unsloth")
        if found is None:
            sys.exit(f"no unsloth engine: {engines.install_command('unsloth')}")
        with tempfile.TemporaryDirectory() as tmp:
            env = engines.worker_environment("unsloth", dict(os.environ), Path(tmp) / "link")
            env.update({IN_ENGINE: "1", "UNSLOTH_FORCE_CPU": "1", "HF_HUB_OFFLINE": "1"})
            done = subprocess.run([str(found.python), __file__, *sys.argv[1:]], env=env)
        sys.exit(done.returncode)
    print(json.dumps(compare(args.steps, args.examples, args.repeats), indent=2))


if __name__ == "__main__":
    main()
