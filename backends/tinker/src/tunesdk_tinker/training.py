"""``train(run)``: one run's Tinker loop in the worker, from data to the result handle.

Data is tokenized before anything is created on the service (a data problem costs nothing),
then the training client is created (or restored from ``resume_from``), the objective's loop
runs, and the final weights are saved for sampling: the result is a `ProviderModel` whose
``model_id`` is that ``tinker://`` path.
"""

from __future__ import annotations

from typing import Any

from tunesdk.errors import RunCancelled
from tunesdk.models import ProviderModel
from tunesdk.store import RunRecord
from tunesdk_tinker import data as data_mod
from tunesdk_tinker.loops import common, dpo, grpo, sft
from tunesdk_tinker.plan import loop_settings


def train(run: RunRecord, backend: str = "tinker") -> ProviderModel:
    job = run.job
    objective = job.infer_objective()
    native = loop_settings(job, objective)
    tokenizer = common.tokenizer_for(native, job)
    train_set, eval_set = data_mod.train_eval(job)
    size = job.effective_micro_batch_size

    prepared: Any
    eval_items: Any = None
    if objective == "sft":
        prepared, warnings = data_mod.sft_sequences(train_set, tokenizer, job, name="data")
        if eval_set is not None:
            eval_items, more = data_mod.sft_sequences(eval_set, tokenizer, job, name="eval_data")
            warnings += more
        for warning in warnings:
            run.log(warning, level="warning")
        count, batch = len(prepared), job.batch_size
    elif objective == "dpo":
        prepared = data_mod.preference_pairs(train_set, tokenizer, job, name="data")
        if eval_set is not None:
            eval_items = data_mod.preference_pairs(eval_set, tokenizer, job, name="eval_data")
        count, batch = len(prepared), job.batch_size
    else:
        prepared = data_mod.grpo_prompts(train_set, tokenizer, job)
        count, batch = len(prepared), native["grpo"]["prompts_per_step"]
    per_epoch, total = common.steps(count, batch, job)

    session = common.open_session(run, native)
    try:
        loop = common.Loop(run, native, session, tokenizer, per_epoch, total)
        if session.resumed_step >= total:
            run.log(f"the restored state is at step {session.resumed_step}: nothing left to train")
        loop.check_cancel()
        if objective == "sft":
            if eval_items:
                loop.eval_fn = sft.evaluator(eval_items, size)
            sft.train(loop, prepared)
        elif objective == "dpo":
            beta = native["dpo"]["beta"]
            refs = dpo.reference(session, native, prepared, size)
            if eval_items:
                eval_refs = dpo.reference(session, native, eval_items, size)
                loop.eval_fn = dpo.evaluator(eval_items, eval_refs, beta, size)
            loop.check_cancel()
            dpo.train(loop, prepared, refs)
        else:
            grpo.train(loop, prepared)
        if run.should_stop():
            raise RunCancelled(run.run_id)
        path = loop.final_weights()
    finally:
        session.close()
    run.log(f"final weights saved for sampling: {path}")
    return ProviderModel(
        provider=backend, model_id=path, base_model=native["base_model"], job_id=run.run_id
    )


__all__ = ["train"]
