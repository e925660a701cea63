"""``train(run)``: one run's Tinker loop in the worker, from data to the result handle.

Data is tokenized before anything is created on the service (a data problem costs nothing),
then the training client is created (or restored from ``resume_from``), the objective's loop
runs, and the final weights are saved for sampling: the result is a `ProviderModel` whose
``model_id`` is that ``tinker://`` path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tunesdk.errors import JobError, RunCancelled
from tunesdk.job_data import train_eval_datasets
from tunesdk.models import ProviderModel
from tunesdk.store import RunRecord
from tunesdk_tinker import data as data_mod
from tunesdk_tinker import service, service_tokenizer
from tunesdk_tinker.loops import common, dpo, grpo, sft
from tunesdk_tinker.plan import loop_settings


@dataclass
class Prepared:
    """The tokenized training (and eval) data, and how many steps they make."""

    items: Any
    eval_items: Any
    steps_per_epoch: int
    total_steps: int


def prepare(run: RunRecord, objective: str, native: dict[str, Any], tokenizer: Any) -> Prepared:
    """The job's data tokenized for ``objective`` (warnings logged on the run)."""
    job = run.job
    train_set, eval_set = train_eval_datasets(job)
    eval_items: Any = None
    items: Any
    if objective == "sft":
        items, warnings = data_mod.sft_sequences(train_set, tokenizer, job, name="data")
        if eval_set is not None:
            eval_items, more = data_mod.sft_sequences(eval_set, tokenizer, job, name="eval_data")
            warnings += more
        for warning in warnings:
            run.log(warning, level="warning")
        batch = job.batch_size
    elif objective == "dpo":
        items = data_mod.preference_pairs(train_set, tokenizer, job, name="data")
        if eval_set is not None:
            eval_items = data_mod.preference_pairs(eval_set, tokenizer, job, name="eval_data")
        batch = job.batch_size
    else:
        items = data_mod.grpo_prompts(train_set, tokenizer, job)
        batch = native["grpo"]["prompts_per_step"]
    per_epoch, total = common.steps(len(items), batch, job)
    return Prepared(items, eval_items, per_epoch, total)


def _tokenizer(run: RunRecord, native: dict[str, Any]) -> tuple[Any, common.Session | None]:
    """The base model's tokenizer; when the model's name is no tokenizer here (a service's own
    name) and the job names none, the one the service names (then with the session opened)."""
    job = run.job
    try:
        return common.tokenizer_for(native, job), None
    except JobError:
        if service.options(job).get("tokenizer"):
            raise
        session = common.open_session(run, native)
        tokenizer = common.service_tokenizer(session, job)
        if tokenizer is None:
            session.close()
            raise
        run.log("tokenizer: the one the service names for the model (get_tokenizer)")
        service_tokenizer.remember(run.dir, tokenizer)  # chat() loads it again from there
        return tokenizer, session


def run_loop(
    run: RunRecord,
    objective: str,
    native: dict[str, Any],
    session: common.Session,
    tokenizer: Any,
    data: Prepared,
) -> str:
    """The objective's loop, then the final weights saved for sampling: their path."""
    size = run.job.effective_micro_batch_size
    loop = common.Loop(run, native, session, tokenizer, data.steps_per_epoch, data.total_steps)
    if session.resumed_step >= data.total_steps:
        run.log(f"the restored state is at step {session.resumed_step}: nothing left to train")
    loop.check_cancel()
    if objective == "sft":
        if data.eval_items:
            loop.eval_fn = sft.evaluator(data.eval_items, size)
        sft.train(loop, data.items)
    elif objective == "dpo":
        beta = native["dpo"]["beta"]
        refs = dpo.reference(session, native, data.items, size)
        if data.eval_items:
            eval_refs = dpo.reference(session, native, data.eval_items, size)
            loop.eval_fn = dpo.evaluator(data.eval_items, eval_refs, beta, size)
        loop.check_cancel()
        dpo.train(loop, data.items, refs)
    else:
        grpo.train(loop, data.items)
    if run.should_stop():
        raise RunCancelled(run.run_id)
    return loop.final_weights()


def train(run: RunRecord, backend: str = "tinker") -> ProviderModel:
    """Train the run's job on its service and return the handle of the final weights."""
    job = run.job
    objective = job.infer_objective()
    native = loop_settings(job, objective)
    tokenizer, session = _tokenizer(run, native)
    try:
        data = prepare(run, objective, native, tokenizer)  # before the service spends anything
        if session is None:
            session = common.open_session(run, native)
        path = run_loop(run, objective, native, session, tokenizer, data)
    finally:
        if session is not None:
            session.close()
    run.log(f"final weights saved for sampling: {path}")
    return ProviderModel(
        provider=backend, model_id=path, base_model=native["base_model"], job_id=run.run_id
    )


__all__ = ["train"]
