"""GPU check for the unsloth backend: LoRA and QLoRA through tunesdk and through plain Unsloth.

The model, data, Job and measurements are ``common.py``'s (a random-weight ~0.5B bf16 Llama built
locally, no hub). Each case runs in its own process, with ``unsloth`` imported before
transformers/TRL/PEFT as Unsloth asks:

- ``via tunesdk``: the unsloth backend trains the Job in-process exactly as its worker would
  (``check_job`` → ``plan`` → ``preflight`` → run folder → ``UnslothBackend.train``, which is
  ``FastLanguageModel`` plus tunesdk-trl's trainer glue); tokens/s and losses come from the run's
  Progress events.
- ``via plain``: the overhead baseline, written the way Unsloth's notebooks do it:
  ``FastLanguageModel.from_pretrained`` (``load_in_4bit`` for QLoRA) → ``get_peft_model`` (the seven
  Llama projections, ``use_gradient_checkpointing="unsloth"``) → the chat template applied into a
  ``text`` column → TRL's ``SFTTrainer`` with ``bf16=is_bfloat16_supported()``. The optimizer is
  TRL's default (as for the Job), not the notebooks' ``adamw_8bit``, so both sides train alike.

- ``grpo`` / ``kto`` / ``orpo`` (via tunesdk only): the LoRA job as GRPO (a fuzzy-match grader
  against the conversations' answers), KTO (labelled completions) and ORPO (reversed answers
  rejected), each through Unsloth's patched TRL trainer (see ``rl_job``). Their rows show the
  last loss (GRPO's is about 0 on-policy) and ``ok`` when every step logged one.

Usage (a CUDA GPU and ``pip install 'tunesdk-unsloth[gpu]'``)::

    python benchmarks/gpu/unsloth_check.py [--steps 30] [--out unsloth.json]
    python benchmarks/gpu/unsloth_check.py --tiny --steps 2   # no GPU: every row is skipped

Exits 1 if a case failed (a skipped case is not a failure).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import tempfile
from pathlib import Path
from typing import Any

import common
from common import Case, Row, Size, StepSample

#: objectives Unsloth runs through its patched TRL trainers (LoRA, via tunesdk only)
RL_OBJECTIVES = ("grpo", "kto", "orpo")
CASES = [
    Case("unsloth", method, via) for method in ("lora", "qlora") for via in ("tunesdk", "plain")
] + [Case("unsloth", objective, "tunesdk") for objective in RL_OBJECTIVES]
LLAMA_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def run_case(case: Case, model: Path, size: Size, steps: int) -> Row:
    require_unsloth(case)
    importlib.import_module("unsloth")  # first: it patches transformers, TRL and PEFT
    if case.method in RL_OBJECTIVES:
        job = rl_job(model, case.method, size, steps)
    else:
        job = common.make_job(model, case.method, size, steps)
    with tempfile.TemporaryDirectory() as tmp:
        if case.via == "tunesdk":
            return common.measure(
                case,
                steps,
                lambda: common.progress_samples(
                    common.train_with_tunesdk(job, "unsloth", Path(tmp))
                ),
            )
        return common.measure(case, steps, lambda: train_plain_unsloth(job, Path(tmp)))


def rl_job(model: Path, objective: str, size: Size, steps: int) -> Any:
    """The LoRA job of ``common.make_job`` as GRPO, KTO or ORPO on the same conversations:

    - GRPO: the user turns as prompts, the assistant turns as an ``answer`` column, a fuzzy-match
      grader against it (no Python reward to import), 4 completions per prompt (2 when the
      batch is 2) of at most 64 tokens;
    - KTO: each conversation as prompt/completion, every other one labelled undesirable;
    - ORPO: the assistant turn chosen, the same words reversed rejected.
    """
    import tunesdk as ts

    base = common.make_job(model, "lora", size, steps)
    rows = common.chat_rows(size)
    turns = [(r["messages"][0]["content"], r["messages"][-1]["content"]) for r in rows]
    fields: dict[str, Any] = {"objective": objective, "train_on_inputs": False}
    if objective == "grpo":
        similar = ts.graders.TextSimilarity(
            name="close",
            input="{{sample.output_text}}",
            reference="{{item.answer}}",
            evaluation_metric="fuzzy_match",
        )
        fields.update(
            data=[{"prompt": user, "answer": answer} for user, answer in turns],
            rewards=[similar],
            num_generations=4 if size.batch % 4 == 0 else 2,
            max_completion_length=64,
        )
    elif objective == "kto":
        fields["data"] = [
            {"prompt": user, "completion": answer, "label": i % 2 == 0}
            for i, (user, answer) in enumerate(turns)
        ]
    else:
        fields["data"] = [
            {"prompt": user, "chosen": answer, "rejected": " ".join(reversed(answer.split()))}
            for user, answer in turns
        ]
    return ts.Job.model_validate({**base.model_dump(exclude_unset=True), **fields})


def require_unsloth(case: Case) -> None:
    """CaseSkipped, before unsloth is imported (it raises on a machine without a GPU)."""
    if case.via == "tunesdk":
        from tunesdk.registry import get_backend

        check = get_backend("unsloth").check()  # imports no unsloth
        if not check.usable:
            raise common.CaseSkipped(f"{check.reason} (fix: {check.fix})")
        return
    common.require_cuda("Unsloth")
    if importlib.util.find_spec("unsloth") is None:
        raise common.CaseSkipped("unsloth is not installed (pip install unsloth)")


def train_plain_unsloth(job: Any, output_dir: Path) -> list[StepSample]:
    """The job written directly against Unsloth, the way its notebooks do it."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer
    from unsloth import FastLanguageModel, is_bfloat16_supported

    import tunesdk as ts

    method = job.method
    samples: list[StepSample] = []
    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=job.model_name,
        max_seq_length=job.max_seq_length,
        dtype=None,  # bf16 where the GPU has it
        load_in_4bit=isinstance(method, ts.QLoRA),
    )
    model = FastLanguageModel.get_peft_model(
        model,
        r=method.r,
        target_modules=LLAMA_PROJECTIONS,
        lora_alpha=int(method.alpha or 2 * method.r),
        lora_dropout=method.dropout,
        bias="none",
        use_gradient_checkpointing="unsloth",
        random_state=job.seed,
        use_rslora=False,
        loftq_config=None,
    )
    texts = [tokenizer.apply_chat_template(row["messages"], tokenize=False) for row in job.data]
    trainer = SFTTrainer(
        model=model,
        processing_class=tokenizer,
        train_dataset=Dataset.from_dict({"text": texts}),
        args=SFTConfig(
            dataset_text_field="text",
            max_length=job.max_seq_length,
            per_device_train_batch_size=job.batch_size,
            gradient_accumulation_steps=1,
            warmup_steps=job.warmup_ratio,  # transformers 5: a float below 1 is a ratio
            max_steps=job.max_steps,
            learning_rate=job.effective_learning_rate,
            lr_scheduler_type=job.lr_scheduler,
            weight_decay=job.weight_decay,
            fp16=not is_bfloat16_supported(),
            bf16=is_bfloat16_supported(),
            logging_steps=1,
            include_num_input_tokens_seen="non_padding",
            seed=job.seed,
            output_dir=str(output_dir),
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
        ),
        callbacks=[common.step_logger(samples)],
    )
    trainer.train()
    return samples


if __name__ == "__main__":
    sys.exit(common.script_main(__file__, CASES, run_case, __doc__ or ""))
