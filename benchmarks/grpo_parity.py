"""Parity of tunesdk's GRPO (trl backend) with a plain TRL ``GRPOTrainer`` script.

Same tiny model, same prompts, same reward (the letter "o", counted), same seed and settings;
both sides train in this process, so the comparison is the training loop alone. Prints JSON with
the per-step mean rewards of both sides, their largest difference, the wall-time ratio
(tunesdk / plain TRL, fastest of ``--repeats``) and, separately, what ``job.run()`` adds around
the same training (``worker_startup_s``: the worker process starting Python and importing
torch/TRL, plus run bookkeeping)::

    .venv/bin/python benchmarks/grpo_parity.py [--steps 16] [--repeats 2] [--no-worker]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import tunesdk as ts
from tunesdk.events import Progress
from tunesdk.testing import tiny_model
from tunesdk_trl import TRLBackend

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _common, also when loaded by path
from _common import (
    alternate,
    plain_training_args,
    run_through_worker,
    train_in_process,
    wall_report,
)

WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog"]
REWARD_MODULE = "grpo_parity_rewards"
REWARD_SOURCE = textwrap.dedent(
    """
    def count_o(prompts, completions, **kwargs):
        return [float(c.count("o")) for c in completions]
    """
)


def prompts(n: int = 64) -> list[dict[str, str]]:
    return [{"prompt": " ".join(random.Random(i).sample(WORDS, 4))} for i in range(n)]


def make_job(model: Path, steps: int) -> ts.Job:
    return ts.Job(
        model=str(model),
        data=prompts(),
        rewards=[f"{REWARD_MODULE}:count_o"],
        method=ts.Full(),
        learning_rate=1e-2,
        batch_size=16,
        num_generations=4,
        max_completion_length=16,
        max_steps=steps,
        seed=0,
        backend_options={"trl": {"save_strategy": "no"}},
    )


def run_tunesdk(job: ts.Job, home: Path) -> tuple[list[float], float]:
    return train_in_process(TRLBackend(), job, home, _rewards)


def _rewards(events: list[Any]) -> list[float]:
    return [e.reward_mean for e in events if isinstance(e, Progress) and e.reward_mean is not None]


def run_plain_trl(job: ts.Job, output_dir: Path) -> tuple[list[float], float]:
    """The same training written directly against TRL, as its GRPO documentation shows."""
    import importlib

    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    count_o = importlib.import_module(REWARD_MODULE).count_o
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(job.model_name)
    model = AutoModelForCausalLM.from_pretrained(job.model_name, dtype="float32")
    config = GRPOConfig(
        **plain_training_args(job, output_dir),
        num_generations=job.num_generations,
        max_completion_length=job.max_completion_length,
        beta=0.0,
        bf16=False,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[count_o],
        args=config,
        train_dataset=Dataset.from_list(job.data),
        processing_class=tokenizer,
    )
    trainer.train()
    trainer.save_model(str(output_dir / "model"))
    rewards = [float(h["reward"]) for h in trainer.state.log_history if "reward" in h]
    return rewards, time.perf_counter() - start


def compare(job: ts.Job, root: Path, repeats: int, *, worker: bool) -> dict[str, Any]:
    plain, ours, plain_wall, our_wall = alternate(
        lambda out: run_plain_trl(job, out), lambda home: run_tunesdk(job, home), root, repeats
    )
    diffs = [abs(a - b) for a, b in zip(ours, plain, strict=True)]
    report: dict[str, Any] = {
        "steps": len(ours),
        "identical_rewards": ours == plain,
        "max_abs_reward_diff": max(diffs) if diffs else None,
        **wall_report(plain_wall, our_wall, plain_key="plain_trl_wall_s"),
        "tunesdk_rewards": [round(r, 4) for r in ours],
        "plain_trl_rewards": [round(r, 4) for r in plain],
    }
    if worker:
        report["worker_startup_s"] = round(
            run_through_worker(job, "trl", root / "worker-home") - our_wall, 3
        )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2, help="runs per side; the fastest counts")
    parser.add_argument("--model", type=Path, help="a local model folder (default: the tiny model)")
    parser.add_argument("--no-worker", action="store_true", help="skip the job.run() timing")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / f"{REWARD_MODULE}.py").write_text(REWARD_SOURCE)
        sys.path.insert(0, str(root))  # this process imports the reward ...
        os.environ["PYTHONPATH"] = os.pathsep.join(  # ... and so does the worker
            filter(None, [str(root), os.environ.get("PYTHONPATH")])
        )
        model = args.model or tiny_model(root / "model")
        report = compare(make_job(model, args.steps), root, args.repeats, worker=not args.no_worker)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
