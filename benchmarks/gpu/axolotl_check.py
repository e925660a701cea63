"""Device check for the axolotl backend: the same small job, LoRA and QLoRA, through tunesdk.

Not run in CI (Axolotl needs a CUDA GPU). On a CUDA machine with Axolotl installed
(``pip install 'tunesdk-axolotl[axolotl]'``, or ``TUNESDK_AXOLOTL_COMMAND`` naming an Axolotl in
another environment)::

    python benchmarks/gpu/axolotl_check.py [--steps 30] [--out results.json]

It builds a random-weight Llama-architecture model of about 0.5B parameters locally (no hub
access), runs ``job.run(backend="axolotl")`` for a fixed number of steps per case, and prints one
row per case: tokens/s, peak GPU memory and final loss. Peak memory and the train runtime are read
from Axolotl's own log (its Trainer logs ``memory/max_allocated (GiB)`` and ``train_runtime``);
tokens/s counts the non-padding tokens of the examples the steps consumed. Exits non-zero if any
case fails.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import tunesdk as ts
from tunesdk.testing import tiny_chat_data, tiny_tokenizer

CASES: dict[str, ts.LoRA] = {
    "axolotl_lora": ts.LoRA(r=16),
    "axolotl_qlora": ts.QLoRA(r=16),
}
BATCH = 8
SEQ = 256


def build_model(path: Path) -> Path:
    """A ~0.5B-parameter Llama with random weights and the tiny tokenizer (bf16 on disk)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=1536,
        intermediate_size=4096,
        num_hidden_layers=16,
        num_attention_heads=12,
        num_key_value_heads=4,
        max_position_embeddings=SEQ * 4,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).bfloat16()
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def log_numbers(log: Path, key: str) -> list[float]:
    """Every value of ``key`` in the Trainer log dicts of Axolotl's output."""
    pattern = re.compile(re.escape(f"'{key}': ") + r"'?([0-9.eE+-]+)")
    return [float(m.group(1)) for m in pattern.finditer(log.read_text(errors="replace"))]


def run_case(name: str, method: ts.LoRA, model: Path, steps: int) -> dict[str, Any]:
    data = tiny_chat_data(512, seed=1)
    job = ts.Job(
        model=str(model),
        data=data,
        method=method,
        batch_size=BATCH,
        max_steps=steps,
        max_seq_length=SEQ,
        learning_rate=2e-4,
        resources=ts.Resources(mixed_precision="bf16"),
    )
    try:
        result = job.run(backend="axolotl", progress=False)
    except ts.TuneError as exc:
        return {"case": name, "ok": False, "error": str(exc)}
    log = Path(result.model.path).parents[1] / "axolotl.log"
    runtime = log_numbers(log, "train_runtime")
    memory = log_numbers(log, "memory/max_allocated (GiB)")
    tokenizer = tiny_tokenizer()
    consumed = [data[i % len(data)] for i in range(steps * BATCH)]
    tokens = sum(
        len(tokenizer.apply_chat_template(row["messages"], tokenize=True)) for row in consumed
    )
    return {
        "case": name,
        "ok": True,
        "tokens_per_s": round(tokens / runtime[-1], 1) if runtime else None,
        "peak_gib": max(memory) if memory else None,
        "final_loss": result.metrics.get("train_loss"),
        "steps": result.metrics.get("steps"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    check = ts.backends()
    print("backends:", [(b.name, b.usable, b.reason) for b in check if b.name == "axolotl"])
    with tempfile.TemporaryDirectory() as tmp:
        model = build_model(Path(tmp) / "llama-0.5b")
        rows = [run_case(name, method, model, args.steps) for name, method in CASES.items()]
    print(f"{'case':<16} {'tokens/s':>10} {'peak GiB':>9} {'final loss':>11}")
    for row in rows:
        if row["ok"]:
            print(
                f"{row['case']:<16} {row['tokens_per_s'] or '-':>10} "
                f"{row['peak_gib'] or '-':>9} {row['final_loss'] or '-':>11}"
            )
        else:
            print(f"{row['case']:<16} FAILED: {row['error']}")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
