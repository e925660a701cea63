"""Device check for the unsloth backend: the same small job through tunesdk (LoRA, QLoRA) and
through plain Unsloth (the overhead baseline), on one GPU, for a fixed number of steps.

Needs a GPU machine with ``pip install 'tunesdk-unsloth[gpu]'``; no hub access: the model is a
random-weight ~0.5B Llama built locally. Every case runs in its own process (clean peak memory)::

    python benchmarks/gpu/unsloth_check.py [--steps 30] [--out results.json]

Prints one row per case: tokens/s (median per-step rate after 3 warm-up steps), peak GPU memory,
final loss. Every case trains on all tokens (``train_on_inputs=True`` for tunesdk, plain text for
the baseline), so the losses are comparable. Exits non-zero if a case fails or its loss does not go
down.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CASES = ("tunesdk_lora", "tunesdk_qlora", "plain_unsloth_lora")
MAX_SEQ_LENGTH = 1024
BATCH = 8
WARMUP_STEPS = 3


def build_model(path: Path) -> Path:
    """A random-weight Llama of about 0.5B parameters (bf16) and a tokenizer trained on the spot."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from tunesdk.testing import tiny_tokenizer

    tokenizer = tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=32000,
        hidden_size=1280,
        intermediate_size=3584,
        num_hidden_layers=24,
        num_attention_heads=20,
        num_key_value_heads=4,
        max_position_embeddings=MAX_SEQ_LENGTH * 2,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).bfloat16()
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def chat_data(n: int = 512) -> list[dict[str, Any]]:
    """tunesdk's synthetic chat examples, made long enough (~600 tokens) to load the GPU."""
    from tunesdk.testing import tiny_chat_data

    rows = tiny_chat_data(n)
    for row in rows:
        for message in row["messages"]:
            message["content"] = " ".join([message["content"]] * 30)
    return rows


def run_tunesdk(case: str, model: Path, steps: int, root: Path) -> dict[str, Any]:
    import tunesdk as ts
    from tunesdk.events import Progress
    from tunesdk.store import RunStore
    from tunesdk_unsloth import UnslothBackend

    method = ts.QLoRA(r=16, dropout=0.0) if case == "tunesdk_qlora" else ts.LoRA(r=16, dropout=0.0)
    job = ts.Job(
        model=str(model),
        data=chat_data(),
        method=method,
        batch_size=BATCH,
        max_steps=steps,
        learning_rate=2e-4,
        max_seq_length=MAX_SEQ_LENGTH,
        train_on_inputs=True,
        seed=7,
        n_checkpoints=1,
    )
    backend = UnslothBackend()
    check = backend.check_job(job)
    if not check.usable:
        return {"ok": False, "error": check.reason, "fix": check.fix}
    record = RunStore(root / case).create(job, backend.plan(job), "unsloth")
    start = time.perf_counter()
    backend.train(record)
    wall = time.perf_counter() - start
    progress = [e for e in record.events() if isinstance(e, Progress)]
    rates = [p.tokens_per_second for p in progress[WARMUP_STEPS:] if p.tokens_per_second]
    losses = [p.train_loss for p in progress if p.train_loss is not None]
    return _result(rates, losses, wall)


def run_plain_unsloth(model: Path, steps: int, root: Path) -> dict[str, Any]:
    """The same training written directly against Unsloth, the way its notebooks do it."""
    import importlib

    importlib.import_module("unsloth")  # before transformers and trl, as Unsloth asks
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer
    from unsloth import FastLanguageModel

    rates: list[float] = []
    losses: list[float] = []

    class Meter(TrainerCallback):
        last: tuple[float, int] | None = None

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if not logs or "loss" not in logs:
                return
            now, seen = time.perf_counter(), state.num_input_tokens_seen
            if self.last is not None and state.global_step > WARMUP_STEPS:
                rates.append((seen - self.last[1]) / (now - self.last[0]))
            self.last = (now, seen)
            losses.append(float(logs["loss"]))

    llm, tokenizer = FastLanguageModel.from_pretrained(
        model_name=str(model), max_seq_length=MAX_SEQ_LENGTH, dtype=None, load_in_4bit=False
    )
    llm = FastLanguageModel.get_peft_model(
        llm,
        r=16,
        lora_alpha=32,
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
        random_state=7,
    )
    texts = [tokenizer.apply_chat_template(r["messages"], tokenize=False) for r in chat_data()]
    trainer = SFTTrainer(
        model=llm,
        processing_class=tokenizer,
        train_dataset=Dataset.from_dict({"text": texts}),
        args=SFTConfig(
            output_dir=str(root / "plain"),
            dataset_text_field="text",
            max_length=MAX_SEQ_LENGTH,
            per_device_train_batch_size=BATCH,
            max_steps=steps,
            learning_rate=2e-4,
            warmup_steps=0.05,
            logging_steps=1,
            seed=7,
            save_strategy="no",
            report_to="none",
            include_num_input_tokens_seen="non_padding",
            disable_tqdm=True,
        ),
        callbacks=[Meter()],
    )
    start = time.perf_counter()
    trainer.train()
    return _result(rates, losses, time.perf_counter() - start)


def _result(rates: list[float], losses: list[float], wall: float) -> dict[str, Any]:
    import torch

    went_down = len(losses) >= 8 and sum(losses[-4:]) / 4 < sum(losses[:4]) / 4
    return {
        "ok": went_down,
        "tokens_per_s": round(statistics.median(rates), 1) if rates else None,
        "peak_gpu_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
        "final_loss": round(losses[-1], 4) if losses else None,
        "first_loss": round(losses[0], 4) if losses else None,
        "train_wall_s": round(wall, 2),
    }


def run_case(case: str, model: Path, steps: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        if case == "plain_unsloth_lora":
            return run_plain_unsloth(model, steps, Path(tmp))
        return run_tunesdk(case, model, steps, Path(tmp))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)  # one case, in a child
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.model, args.steps)))
        return 0
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        model = build_model(Path(tmp) / "llama-0.5b")
        for case in CASES:
            command = [sys.executable, __file__, "--case", case, "--model", str(model)]
            done = subprocess.run(
                [*command, "--steps", str(args.steps)], capture_output=True, text=True
            )
            lines = done.stdout.strip().splitlines()
            try:
                result = json.loads(lines[-1]) if done.returncode == 0 else None
            except (IndexError, json.JSONDecodeError):
                result = None
            if result is None:
                result = {"ok": False, "error": done.stderr.strip().splitlines()[-1:]}
            results.append({"case": case, **result})
    _print_table(results)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0 if all(r["ok"] for r in results) else 1


def _print_table(results: list[dict[str, Any]]) -> None:
    header = f"{'case':<20} {'tokens/s':>10} {'peak GiB':>9} {'final loss':>11}  ok"
    print(header)
    for r in results:
        print(
            f"{r['case']:<20} {r.get('tokens_per_s') or '-':>10} "
            f"{r.get('peak_gpu_mem_gib') or '-':>9} {r.get('final_loss') or '-':>11}  {r['ok']}"
        )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    sys.exit(main())
