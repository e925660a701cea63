"""GRPO's sampling settings as every backend reads them from a job."""

from __future__ import annotations

import pytest

import tunesdk as ts
from tunesdk.grpo import DEFAULT_NUM_GENERATIONS, grpo_sampling

ROWS = [{"prompt": "say o", "answer": "o"}] * 4


def test_unset_knobs_take_the_small_model_defaults() -> None:
    sampling = grpo_sampling(ts.Job(model="m", data=ROWS, batch_size=8))
    assert sampling.num_generations == DEFAULT_NUM_GENERATIONS == 4
    assert (sampling.max_completion_length, sampling.temperature) == (64, 1.0)
    assert sampling.prompts_per_step == 2
    job = ts.Job(model="m", data=ROWS, batch_size=6, num_generations=3, temperature=0.7)
    assert (grpo_sampling(job).prompts_per_step, grpo_sampling(job).temperature) == (2, 0.7)


def test_a_batch_of_partial_groups_suggests_a_whole_number() -> None:
    job = ts.Job(model="m", data=ROWS, batch_size=10, num_generations=4)
    with pytest.raises(ts.JobError, match="batch_size=10 is not a multiple of num_generations=4"):
        grpo_sampling(job)
    job = ts.Job(model="m", data=ROWS, batch_size=2, num_generations=4)
    with pytest.raises(ts.JobError) as info:
        grpo_sampling(job)
    assert info.value.where == "job.batch_size"
    assert (info.value.fix or "").startswith("use batch_size=4 ")
