"""GRPO's sampling settings as every backend reads them from a job: defaults sized for small
models and short runs (not TRL's, whose 512-token completions suit large models and long runs),
and the check that a batch holds whole groups of completions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tunesdk.errors import JobError

if TYPE_CHECKING:
    from tunesdk.job import Job

#: completions sampled per prompt (one group)
DEFAULT_NUM_GENERATIONS = 4
#: tokens per completion
DEFAULT_MAX_COMPLETION_LENGTH = 64
DEFAULT_TEMPERATURE = 1.0


@dataclass(frozen=True)
class GRPOSampling:
    """How a GRPO step samples: ``num_generations`` completions per prompt, each at most
    ``max_completion_length`` tokens, at ``temperature``; ``prompts_per_step`` prompts fill the
    job's ``batch_size`` (which counts completions)."""

    num_generations: int
    max_completion_length: int
    temperature: float
    prompts_per_step: int


def grpo_sampling(job: Job) -> GRPOSampling:
    """The job's GRPO sampling settings, unset ones defaulted; JobError when ``batch_size`` is
    not a whole number of groups."""
    generations = job.num_generations or DEFAULT_NUM_GENERATIONS
    if job.batch_size % generations:
        raise JobError(
            f"batch_size={job.batch_size} is not a multiple of num_generations={generations}: "
            "GRPO samples num_generations completions per prompt and needs whole groups per batch",
            where="job.batch_size",
            fix=f"use batch_size={max(generations, job.batch_size // generations * generations)} "
            "(batch_size counts completions: prompts per step × num_generations), or change "
            "num_generations",
        )
    return GRPOSampling(
        num_generations=generations,
        max_completion_length=job.max_completion_length or DEFAULT_MAX_COMPLETION_LENGTH,
        temperature=job.temperature or DEFAULT_TEMPERATURE,
        prompts_per_step=job.batch_size // generations,
    )


__all__ = [
    "DEFAULT_MAX_COMPLETION_LENGTH",
    "DEFAULT_NUM_GENERATIONS",
    "DEFAULT_TEMPERATURE",
    "GRPOSampling",
    "grpo_sampling",
]
