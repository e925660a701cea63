"""The option catalogue: every Job option a plan must account for, derived from the Job's fields.

Nothing here lists the options by hand, so a field added to `tunesdk.Job` is in every plan at
once (as *dropped* by a backend that does not map it, *defaulted* while it is unset). The
derivation, over the Job's pydantic fields in their declared order:

- a field in `NOT_OPTIONS` (what to train, the run's label, strictness, the per-backend and
  per-launcher pass-through) is no option;
- the ``resources`` fields in `LAUNCHER_OPTIONS` are options too, but the run's launcher (not
  the backend's `PlanBuilder`) adds their rows;
- a field holding a spec section (``resources: Resources``) is one dotted option per field of
  the section (``resources.gpus``);
- a tagged union of specs (``method``, discriminated by ``kind``) is the option itself (its
  tag) followed by the fields of the job's own variant (``method.r`` for LoRA);
- a field in `OBJECTIVE_ONLY` counts only for those objectives (``num_generations`` for GRPO);
- every other field is one option.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from tunesdk.job import Job

#: Job fields that are not training options: what to train (``model``, ``data``), the run's
#: label (``name``), how dropped options are treated (``strict``) and the per-backend
#: pass-through (``backend_options``, shown in plans as ``backend_options.KEY`` rows)
NOT_OPTIONS = frozenset({"model", "data", "name", "strict", "backend_options", "launcher_options"})
#: ``resources`` fields the run's launcher accounts for (`tunesdk.launchers.base`), not the
#: backend: they get their rows from the launcher, after the backend's plan
LAUNCHER_OPTIONS = frozenset(
    {"resources.launcher", "resources.accelerators", "resources.cloud", "resources.spot"}
)

_RL = frozenset({"grpo"})

#: options that only the named objectives use
OBJECTIVE_ONLY: dict[str, frozenset[str]] = {
    "beta": frozenset({"dpo", "grpo", "kto", "orpo"}),
    "rewards": _RL,
    "reward_weights": _RL,
    "num_generations": _RL,
    "max_completion_length": _RL,
    "temperature": _RL,
    "loss_type": _RL,
}


def _is_section(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def job_options(job: Job, objective: str) -> list[str]:
    """The option names a plan for ``job`` (training ``objective``) must account for, in the
    Job's field order."""
    names: list[str] = []
    for name, info in type(job).model_fields.items():
        if name in NOT_OPTIONS or objective not in OBJECTIVE_ONLY.get(name, (objective,)):
            continue
        if _is_section(info.annotation):
            section: Any = info.annotation
            names += [f"{name}.{field}" for field in section.model_fields]
            continue
        names.append(name)
        tag = info.discriminator
        value = getattr(job, name)
        if isinstance(tag, str) and isinstance(value, BaseModel):
            names += [f"{name}.{field}" for field in type(value).model_fields if field != tag]
    return names


def option_value(job: Job, option: str) -> Any:
    """The value of a (possibly dotted) Job option; ``method`` gives the method kind and
    ``learning_rate`` the rate that applies (the method's default when unset)."""
    if option == "method":
        return job.method.kind
    if option == "learning_rate":
        return job.effective_learning_rate
    if option == "rewards":  # callables and graders shown by name
        from tunesdk.rewards import reward_name

        return [reward_name(reward, i) for i, reward in enumerate(job.rewards)]
    node: Any = job
    for part in option.split("."):
        node = getattr(node, part)
    if isinstance(node, BaseModel):
        return node.model_dump(mode="json")
    return (
        node if isinstance(node, str | int | float | bool | list | dict | type(None)) else str(node)
    )


__all__ = ["LAUNCHER_OPTIONS", "NOT_OPTIONS", "OBJECTIVE_ONLY", "job_options", "option_value"]
