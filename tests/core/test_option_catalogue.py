"""The option catalogue (tunesdk.options) is derived from the Job's fields: a field added to the Job
is in every plan, and every field is either an option or named as no option."""

from __future__ import annotations

import warnings

import pytest

import tunesdk as ts
from tunesdk.backend import job_options as reexported
from tunesdk.errors import UnsupportedOption, UnsupportedOptionWarning
from tunesdk.methods import METHOD_KINDS
from tunesdk.options import LAUNCHER_OPTIONS, NOT_OPTIONS, job_options, option_value

ROWS = [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}]

#: the list backend.py kept by hand before the catalogue was derived (method fields aside)
HAND_KEPT = {
    "objective", "method", "epochs", "max_steps", "learning_rate", "batch_size",
    "micro_batch_size", "warmup_ratio", "lr_scheduler", "weight_decay", "max_grad_norm",
    "max_seq_length", "seed", "beta", "eval_data", "eval_split", "eval_steps", "n_checkpoints",
    "train_on_inputs", "packing", "chat_template", "suffix", "output_dir", "report_to",
    "wandb_project", "resources.processes", "resources.gpus", "resources.nodes",
    "resources.strategy", "resources.deepspeed_stage", "resources.mixed_precision",
}  # fmt: skip


OBJECTIVES = ("sft", "dpo", "grpo", "kto", "orpo")


def test_every_job_field_is_an_option_or_named_as_none() -> None:
    job = ts.Job(model="gpt2", data=ROWS)
    options = {o for objective in OBJECTIVES for o in job_options(job, objective)}
    for field in ts.Job.model_fields:
        covered = field in options or any(o.startswith(f"{field}.") for o in options)
        assert covered != (field in NOT_OPTIONS), field
    assert set(ts.Job.model_fields) >= NOT_OPTIONS  # no stale names


def test_the_derived_catalogue_matches_the_list_once_kept_by_hand() -> None:
    job = ts.Job(model="gpt2", data=ROWS)
    derived = {o for o in job_options(job, "dpo") if not o.startswith("method.")}
    assert derived == HAND_KEPT | LAUNCHER_OPTIONS  # the launcher's (tunesdk.launchers) since
    assert "beta" not in job_options(job, "sft")
    assert reexported is job_options


@pytest.mark.parametrize("kind", sorted(METHOD_KINDS))
def test_method_fields_follow_the_jobs_method(kind: str) -> None:
    job = ts.Job(model="gpt2", data=ROWS, method=kind)
    options = job_options(job, "sft")
    fields = [f"method.{f}" for f in type(job.method).model_fields if f != "kind"]
    start = options.index("method") + 1
    assert options[start : start + len(fields)] == fields
    assert option_value(job, "method") == kind


class _NewerJob(ts.Job):
    """A Job with a field added after the backends were written."""

    new_knob: int | None = None


def test_a_new_job_field_is_in_plans_without_editing_any_list() -> None:
    plan = _NewerJob(model="gpt2", data=ROWS, max_steps=2).plan("simulated")
    assert plan.row("new_knob").status == "defaulted"  # unset: nothing lost

    job = _NewerJob(model="gpt2", data=ROWS, max_steps=2, new_knob=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsupportedOptionWarning)
        row = job.plan("simulated").row("new_knob")
    assert (row.status, row.value, row.user_set) == ("dropped", 3, True)
    assert row.reason == "simulated has no equivalent"
    with pytest.raises(UnsupportedOption, match="new_knob"):
        job.model_copy(update={"strict": True}).plan("simulated")


def test_simulated_plans_every_option_of_the_catalogue() -> None:
    for kind in sorted(METHOD_KINDS):
        job = ts.Job(model="gpt2", data=ROWS, method=kind, max_steps=2)
        plan = job.plan("simulated")
        assert {r.option for r in plan.rows} == set(job_options(job, plan.objective))
        assert plan.row("epochs").status in ("mapped", "defaulted")
        assert plan.row("weight_decay").status == "defaulted"  # not simulated, and not set
