"""``train(run)``: the worker-side training of one run with TRL's SFTTrainer or DPOTrainer.

This is the trainer glue shared by the local engines built on TRL: data preparation, trainer
construction, events, checkpoints, resume, cancel and the model handle. What differs per engine
(how the model is loaded and made trainable) comes from a `tunesdk_trl.modeling.ModelLoader`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tunesdk.errors import RunCancelled
from tunesdk.job_data import train_eval_datasets
from tunesdk.models import LocalModel
from tunesdk.store import RunRecord
from tunesdk.worker import is_main_process
from tunesdk_trl import data as data_mod
from tunesdk_trl import rl
from tunesdk_trl.callback import EventsCallback
from tunesdk_trl.modeling import ModelLoader
from tunesdk_trl.plan import native_for


def train(
    run: RunRecord, backend_name: str = "trl", *, loader: ModelLoader | None = None
) -> LocalModel:
    """Train the run's job and return the handle of the saved adapter or model.

    ``loader`` defaults to transformers + PEFT from the trl backend's native description.
    """
    job = run.job
    objective = job.infer_objective()
    if loader is None:
        loader = ModelLoader(native_for(job, objective, run.outputs_dir))
    native = loader.native
    loader.preconditions(job)
    main = is_main_process()
    if job.wandb_project:
        os.environ.setdefault("WANDB_PROJECT", job.wandb_project)

    # data first: a data problem must surface before the model is loaded
    tokenizer = loader.load_tokenizer(job)
    train_ds, eval_ds = _datasets(run, objective, tokenizer, main)
    model = loader.load_model(tokenizer)

    if objective in rl.RL_TRAINERS:
        trainer = rl.build_trainer(
            objective,
            native,
            model,
            tokenizer,
            train_ds,
            eval_ds,
            [EventsCallback(run, emit=main)],
            loader.trainer_peft_config(),
            job,
            loader.trainer_class,
        )
    else:
        trainer = _trainer(native, model, tokenizer, train_ds, eval_ds, run, main, loader)
    resume_from = run.state.get("resume_from")
    trainer.train(resume_from_checkpoint=resume_from)
    if run.should_stop():
        raise RunCancelled(run.run_id)

    final_dir = Path(native["final_model_dir"])
    trainer.save_model(str(final_dir))
    if main:
        tokenizer.save_pretrained(str(final_dir))
    kind = "adapter" if loader.trains_adapter else "full"
    handle = LocalModel(
        path=str(final_dir.resolve()), base_model=loader.source, kind=kind, engine=backend_name
    )
    if main:
        handle.save_metadata()
    return handle


def _datasets(run: RunRecord, objective: str, tokenizer: Any, main: bool) -> tuple[Any, Any]:
    """Training and eval ``datasets.Dataset``: tokenized with labels for SFT, pairs for DPO and
    ORPO, prompts with their reference columns for GRPO, labelled completions for KTO."""
    job = run.job
    train_set, eval_set = train_eval_datasets(job)
    if objective in ("grpo", "kto"):
        convert = rl.grpo_dataset if objective == "grpo" else rl.kto_dataset
        return convert(train_set), convert(eval_set) if eval_set is not None else None
    if objective == "orpo":
        train_ds = rl.orpo_dataset(data_mod.dpo_dataset(train_set), tokenizer)
        if eval_set is None:
            return train_ds, None
        return train_ds, rl.orpo_dataset(data_mod.dpo_dataset(eval_set), tokenizer)
    if objective != "sft":
        train_ds = data_mod.dpo_dataset(train_set)
        return train_ds, data_mod.dpo_dataset(eval_set) if eval_set is not None else None
    train_ds, warnings = data_mod.sft_dataset(train_set, tokenizer, job, name="data")
    eval_ds = None
    if eval_set is not None:
        eval_ds, eval_warnings = data_mod.sft_dataset(eval_set, tokenizer, job, name="eval_data")
        warnings += eval_warnings
    for warning in warnings if main else []:
        run.log(warning, level="warning")
    return train_ds, eval_ds


def _trainer(
    native: dict[str, Any],
    model: Any,
    tokenizer: Any,
    train_ds: Any,
    eval_ds: Any,
    run: RunRecord,
    main: bool,
    loader: ModelLoader,
) -> Any:
    import trl

    config = getattr(trl, native["config_class"])(**native["config"])
    trainer_class = loader.trainer_class(getattr(trl, native["trainer"]))
    return trainer_class(
        model=model,
        args=config,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=tokenizer,
        peft_config=loader.trainer_peft_config(),
        callbacks=[EventsCallback(run, emit=main)],
    )
