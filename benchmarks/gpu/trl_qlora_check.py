"""GPU check for the trl backend: LoRA, QLoRA and full fine-tuning, through tunesdk and plain TRL.

The model, data, Job and measurements are ``common.py``'s (a random-weight ~0.5B bf16 Llama built
locally, no hub). Each case runs in its own process:

- ``via tunesdk``: the trl backend trains the Job in-process exactly as its worker would
  (``check_job`` → ``plan`` → ``preflight`` → run folder → ``TRLBackend.train``); tokens/s and
  losses come from the run's Progress events.
- ``via plain``: the same training written directly against TRL 1.x the way its SFT docs show:
  ``SFTTrainer(model=<path>, args=SFTConfig(...), train_dataset=<messages>, peft_config=LoraConfig,
  quantization_config=BitsAndBytesConfig)``. Two arguments are set where TRL's defaults differ
  from tunesdk's, so the ratio measures overhead and not a setting: ``model_init_kwargs={"dtype":
  "auto"}`` (TRL loads in float32 by default; tunesdk, like ``from_pretrained``, keeps the bf16
  checkpoint's dtype) and ``include_num_input_tokens_seen="non_padding"`` (to count tokens).

Known difference: for QLoRA tunesdk runs PEFT's ``prepare_model_for_kbit_training`` (fp32 norms,
embeddings and head), which plain ``SFTTrainer`` does not, so QLoRA peak memory is a little higher
through tunesdk. Same seed and data order: final losses should agree closely (bf16 noise).

Usage (CUDA GPU; QLoRA also needs ``pip install 'tunesdk-trl[qlora]'``)::

    python benchmarks/gpu/trl_qlora_check.py [--steps 30] [--out trl.json]
    python benchmarks/gpu/trl_qlora_check.py --tiny --steps 2    # CPU smoke run, QLoRA skipped

Exits 1 if a case failed (a skipped case is not a failure).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import common
from common import Case, Row, Size, StepSample

CASES = [
    Case("trl", method, via) for method in ("lora", "qlora", "full") for via in ("tunesdk", "plain")
]


def run_case(case: Case, model: Path, size: Size, steps: int) -> Row:
    job = common.make_job(model, case.method, size, steps)
    if case.method == "qlora" and case.via == "plain":
        require_bitsandbytes()  # the tunesdk case gets the backend's own check_job reason
    with tempfile.TemporaryDirectory() as tmp:
        if case.via == "tunesdk":
            return common.measure(
                case,
                steps,
                lambda: common.progress_samples(common.train_with_tunesdk(job, "trl", Path(tmp))),
            )
        return common.measure(case, steps, lambda: train_plain_trl(job, Path(tmp)))


def require_bitsandbytes() -> None:
    import importlib.util

    common.require_cuda("QLoRA (bitsandbytes 4-bit)")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise common.CaseSkipped("QLoRA needs bitsandbytes: pip install 'tunesdk-trl[qlora]'")


def train_plain_trl(job: Any, output_dir: Path) -> list[StepSample]:
    """The job written directly against TRL, as its SFT and PEFT docs show."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import BitsAndBytesConfig
    from trl import SFTConfig, SFTTrainer

    import tunesdk as ts

    method = job.method
    precision = job.resources.mixed_precision
    samples: list[StepSample] = []
    config = SFTConfig(
        output_dir=str(output_dir),
        max_steps=job.max_steps,
        per_device_train_batch_size=job.batch_size,
        learning_rate=job.effective_learning_rate,
        lr_scheduler_type=job.lr_scheduler,
        warmup_steps=job.warmup_ratio,  # transformers 5: a float below 1 is a ratio
        weight_decay=job.weight_decay,
        max_grad_norm=job.max_grad_norm,
        max_length=job.max_seq_length,
        seed=job.seed,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        model_init_kwargs={"dtype": "auto"},
        logging_steps=1,
        include_num_input_tokens_seen="non_padding",
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
    )
    peft_config = None
    if isinstance(method, ts.LoRA):  # QLoRA too
        peft_config = LoraConfig(
            task_type="CAUSAL_LM",
            r=method.r,
            lora_alpha=int(method.alpha or 2 * method.r),
            lora_dropout=method.dropout,
            target_modules=method.target_modules,
        )
    quantization = None
    if isinstance(method, ts.QLoRA):
        quantization = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=method.quant_type,
            bnb_4bit_use_double_quant=method.double_quant,
            bnb_4bit_compute_dtype=getattr(torch, method.compute_dtype),
        )
    trainer = SFTTrainer(
        model=job.model_name,
        args=config,
        train_dataset=Dataset.from_list(job.data),
        peft_config=peft_config,
        quantization_config=quantization,
        callbacks=[common.step_logger(samples)],
    )
    trainer.train()
    return samples


if __name__ == "__main__":
    sys.exit(common.script_main(__file__, CASES, run_case, __doc__ or ""))
