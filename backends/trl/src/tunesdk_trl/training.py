"""``train(run)``: the worker-side training of one run with TRL's SFTTrainer or DPOTrainer."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tunesdk.errors import RunCancelled
from tunesdk.methods import QLoRA
from tunesdk.models import LocalModel
from tunesdk.store import RunRecord
from tunesdk_trl import data as data_mod
from tunesdk_trl import modeling
from tunesdk_trl.callback import EventsCallback
from tunesdk_trl.native import native_for


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def train(run: RunRecord, backend_name: str = "trl") -> LocalModel:
    """Train the run's job and return the handle of the saved adapter or model."""
    job = run.job
    objective = job.infer_objective()
    native = native_for(job, objective, run.outputs_dir)
    source = native["model"]["pretrained_model_name_or_path"]
    modeling.check_model_path(source)
    modeling.check_precision(job.resources.mixed_precision)
    if isinstance(job.method, QLoRA):
        modeling.require_cuda_bitsandbytes()
    main = is_main_process()
    if job.wandb_project:
        os.environ.setdefault("WANDB_PROJECT", job.wandb_project)

    # data first: a data problem must surface before the model is loaded
    tokenizer = modeling.load_tokenizer(source, job.chat_template)
    train_set, eval_set = data_mod.train_eval_datasets(job)
    if objective == "sft":
        train_ds, warnings = data_mod.sft_dataset(train_set, tokenizer, job, name="data")
        eval_ds = None
        if eval_set is not None:
            eval_ds, eval_warnings = data_mod.sft_dataset(
                eval_set, tokenizer, job, name="eval_data"
            )
            warnings += eval_warnings
        for warning in warnings if main else []:
            run.log(warning, level="warning")
    else:
        train_ds = data_mod.dpo_dataset(train_set)
        eval_ds = data_mod.dpo_dataset(eval_set) if eval_set is not None else None

    quantization = native["model"].get("quantization_config")
    model = modeling.load_model(source, quantization["kwargs"] if quantization else None)
    peft_native = native["peft"]
    if peft_native is not None and peft_native["class"] == "LoraConfig":
        modeling.check_target_modules(model, peft_native["kwargs"]["target_modules"])
    if quantization is not None:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model)

    trainer = _trainer(native, objective, model, tokenizer, train_ds, eval_ds, run, main)
    resume_from = run.state.get("resume_from")
    trainer.train(resume_from_checkpoint=resume_from)
    if run.should_stop():
        raise RunCancelled(run.run_id)

    final_dir = Path(native["final_model_dir"])
    trainer.save_model(str(final_dir))
    if main:
        tokenizer.save_pretrained(str(final_dir))
    kind = "adapter" if peft_native is not None else "full"
    handle = LocalModel(
        path=str(final_dir.resolve()), base_model=source, kind=kind, engine=backend_name
    )
    if main:
        handle.save_metadata()
    return handle


def _trainer(
    native: dict[str, Any],
    objective: str,
    model: Any,
    tokenizer: Any,
    train_ds: Any,
    eval_ds: Any,
    run: RunRecord,
    main: bool,
) -> Any:
    import trl

    config = getattr(trl, native["config_class"])(**native["config"])
    trainer_class = getattr(trl, native["trainer"])
    return trainer_class(
        model=model,
        args=config,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=tokenizer,
        peft_config=modeling.peft_config(native["peft"]),
        callbacks=[EventsCallback(run, emit=main)],
    )
