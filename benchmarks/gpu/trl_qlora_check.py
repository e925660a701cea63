"""GPU check for the trl backend: LoRA, QLoRA and full fine-tuning of a ~0.5B model, tunesdk vs TRL.

No hub access needed: a random-weight Llama (24 layers, hidden 1024, ~0.45B parameters) and a
BPE tokenizer are built and saved locally. Each case trains a fixed number of steps twice, through
``TRLBackend.train`` (in this process, as the worker would) and through a plain TRL script written
the way TRL's docs show (``SFTTrainer`` + ``SFTConfig(assistant_only_loss=True)``, a
``quantization_config`` for QLoRA), and prints tokens/s and peak GPU memory for both. The model is
saved in fp32, which both sides load as is (tunesdk through ``from_pretrained``, TRL with its
``dtype="float32"`` default) and train with bf16 autocast. One known difference: for QLoRA tunesdk
runs PEFT's ``prepare_model_for_kbit_training`` (fp32 norms/embeddings), plain ``SFTTrainer`` does
not, so QLoRA memory may differ slightly::

    python benchmarks/gpu/trl_qlora_check.py [--steps 30] [--out results.json]

Needs a CUDA GPU; QLoRA also needs ``pip install 'tunesdk-trl[qlora]'`` (bitsandbytes). A CPU smoke
run of the same code paths (QLoRA skipped)::

    python benchmarks/gpu/trl_qlora_check.py --layers 2 --hidden 64 --steps 4 --seq 64 --batch 2

Exits non-zero if a case fails or a loss is not finite.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import tunesdk as ts
from tunesdk.events import Progress
from tunesdk.store import RunStore
from tunesdk.testing import tiny_chat_data, tiny_tokenizer
from tunesdk_trl import TRLBackend

WARMUP_STEPS = 3  # steps left out of tokens/s (CUDA kernels, allocator, autotuning)


def build_model(path: Path, *, layers: int, hidden: int, vocab: int) -> tuple[Path, int]:
    """A random-weight Llama saved at ``path`` with the tiny BPE tokenizer; (path, parameters)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=max(vocab, len(tokenizer)),
        hidden_size=hidden,
        intermediate_size=hidden * 4,
        num_hidden_layers=layers,
        num_attention_heads=max(hidden // 64, 1),
        num_key_value_heads=max(hidden // 128, 1),
        max_position_embeddings=4096,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    parameters = sum(p.numel() for p in model.parameters())
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    del model
    return path, parameters


def long_chat_data(n: int, repeat: int) -> list[dict[str, Any]]:
    """``tiny_chat_data`` with each answer repeated, so examples fill a realistic sequence."""
    rows = tiny_chat_data(n)
    for row in rows:
        answer = row["messages"][-1]
        answer["content"] = " ".join([answer["content"]] * repeat)
    return rows


def cases(cuda: bool) -> dict[str, dict[str, Any]]:
    precision = "bf16" if cuda and torch.cuda.is_bf16_supported() else None
    return {
        "lora": {"method": ts.LoRA(r=16), "precision": precision},
        "qlora": {
            "method": ts.QLoRA(r=16, compute_dtype="bfloat16" if precision else "float16"),
            "precision": precision,
        },
        "full": {"method": ts.Full(), "precision": precision},
    }


def make_job(model: Path, case: dict[str, Any], args: argparse.Namespace) -> ts.Job:
    return ts.Job(
        model=str(model),
        data=long_chat_data(args.examples, args.repeat),
        method=case["method"],
        batch_size=args.batch,
        max_steps=args.steps,
        learning_rate=1e-4 if isinstance(case["method"], ts.Full) else 2e-4,
        max_seq_length=args.seq,
        seed=7,
        resources=ts.Resources(mixed_precision=case["precision"]),
    )


def rate(samples: list[tuple[int, float | None]]) -> float | None:
    """Mean tokens/s over the steps after the warm-up: [(step, tokens/s)]."""
    steady = [r for step, r in samples if step > WARMUP_STEPS and r is not None]
    return round(sum(steady) / len(steady), 1) if steady else None


def measure(train: Callable[[], tuple[list[float], float | None]]) -> dict[str, Any]:
    """Run ``train`` and record wall time and peak GPU memory around it."""
    gc.collect()
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    losses, tokens_per_s = train()
    result: dict[str, Any] = {
        "wall_s": round(time.perf_counter() - start, 2),
        "tokens_per_s": tokens_per_s,
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "losses_finite": bool(losses) and all(math.isfinite(x) for x in losses),
        "losses": losses,
        "peak_gpu_mem_gib": None,
    }
    if cuda:
        result["peak_gpu_mem_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    gc.collect()
    return result


def run_tunesdk(job: ts.Job, home: Path) -> tuple[list[float], float | None]:
    backend = TRLBackend()
    record = RunStore(home).create(job, backend.plan(job), "trl")
    backend.train(record)
    progress = [e for e in record.events() if isinstance(e, Progress)]
    losses = [e.train_loss for e in progress if e.train_loss is not None]
    return losses, rate([(e.step, e.tokens_per_second) for e in progress])


def run_plain_trl(job: ts.Job, output_dir: Path) -> tuple[list[float], float | None]:
    """The same job written directly against TRL 1.x, as its SFT docs show."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoTokenizer, BitsAndBytesConfig, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    samples: list[tuple[int, float | None]] = []
    losses: list[float] = []

    class Throughput(TrainerCallback):
        def __init__(self) -> None:
            self.last = (time.monotonic(), 0)

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if not logs or "loss" not in logs:
                return
            now, tokens = time.monotonic(), state.num_input_tokens_seen
            last_time, last_tokens = self.last
            samples.append((state.global_step, (tokens - last_tokens) / (now - last_time)))
            losses.append(float(logs["loss"]))
            self.last = (now, tokens)

    method = job.method
    precision = job.resources.mixed_precision
    config = SFTConfig(
        output_dir=str(output_dir),
        max_steps=job.max_steps or -1,
        learning_rate=job.effective_learning_rate,
        warmup_steps=job.warmup_ratio,  # transformers 5: a float below 1 is a ratio
        lr_scheduler_type=job.lr_scheduler,
        weight_decay=job.weight_decay,
        max_grad_norm=job.max_grad_norm,
        per_device_train_batch_size=job.batch_size,
        max_length=job.max_seq_length,
        seed=job.seed,
        data_seed=job.seed,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        assistant_only_loss=True,
        include_num_input_tokens_seen="non_padding",
        disable_tqdm=True,
    )
    peft_config = None
    quantization = None
    if isinstance(method, ts.LoRA):
        peft_config = LoraConfig(
            task_type="CAUSAL_LM",
            r=method.r,
            lora_alpha=int(method.alpha or 2 * method.r),
            lora_dropout=method.dropout,
            target_modules=method.target_modules,
        )
    if isinstance(method, ts.QLoRA):
        quantization = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=method.quant_type,
            bnb_4bit_use_double_quant=method.double_quant,
            bnb_4bit_compute_dtype=getattr(torch, method.compute_dtype),
        )
    trainer = SFTTrainer(
        model=job.model_name,  # a path: SFTTrainer loads it (quantized for QLoRA)
        args=config,
        train_dataset=Dataset.from_list(job.data),
        processing_class=AutoTokenizer.from_pretrained(job.model_name),
        peft_config=peft_config,
        quantization_config=quantization,
        callbacks=[Throughput()],
    )
    trainer.train()
    del trainer
    return losses, rate(samples)


def run_case(name: str, job: ts.Job, root: Path) -> dict[str, Any]:
    check = TRLBackend().check_job(job)
    if not check.usable:
        return {"case": name, "ok": False, "skipped": check.reason, "fix": check.fix}
    result: dict[str, Any] = {"case": name}
    for side, train in (
        ("plain_trl", lambda: run_plain_trl(job, root / f"{name}-plain")),
        ("tunesdk", lambda: run_tunesdk(job, root / f"{name}-home")),
    ):
        try:
            result[side] = measure(train)
        except Exception as exc:  # report every case, not just the first failure
            result[side] = {"error": repr(exc), "trace": traceback.format_exc()}
    sides = [result[s] for s in ("plain_trl", "tunesdk")]
    result["ok"] = all(s.get("losses_finite") for s in sides)
    ours_losses, plain_losses = (
        result["tunesdk"].pop("losses", []),
        result["plain_trl"].pop("losses", []),
    )
    if ours_losses and len(ours_losses) == len(plain_losses):
        diffs = [abs(a - b) for a, b in zip(ours_losses, plain_losses, strict=True)]
        result["max_abs_loss_diff"] = max(diffs)  # same seed and data: expected ~0 (bf16 noise)
    ours, plain = result["tunesdk"].get("tokens_per_s"), result["plain_trl"].get("tokens_per_s")
    if ours and plain:
        result["throughput_ratio"] = round(ours / plain, 3)
    return result


def without_traces(result: dict[str, Any]) -> dict[str, Any]:
    """The result with tracebacks left out (they go to ``--out``)."""
    return {
        k: {kk: vv for kk, vv in v.items() if kk != "trace"} if isinstance(v, dict) else v
        for k, v in result.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the results as JSON")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=8, help="per-device batch (no accumulation)")
    parser.add_argument("--seq", type=int, default=512, help="max_seq_length")
    parser.add_argument("--examples", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=12, help="answer repeats (example length)")
    parser.add_argument("--layers", type=int, default=24)
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--cases", default="lora,qlora,full")
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model, parameters = build_model(
            root / "model", layers=args.layers, hidden=args.hidden, vocab=args.vocab
        )
        header = {
            "device": torch.cuda.get_device_name(0) if cuda else "cpu",
            "parameters": parameters,
            "steps": args.steps,
            "batch": args.batch,
            "max_seq_length": args.seq,
            "tokens_per_s_after_step": WARMUP_STEPS,
        }
        print(json.dumps(header), flush=True)
        for name, case in cases(cuda).items():
            if name not in args.cases.split(","):
                continue
            result = run_case(name, make_job(model, case, args), root)
            print(json.dumps(without_traces(result)), flush=True)
            results.append(result)
    if args.out:
        args.out.write_text(json.dumps({**header, "results": results}, indent=2) + "\n")
    failed = [r["case"] for r in results if not r["ok"] and not (r.get("skipped") and not cuda)]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
