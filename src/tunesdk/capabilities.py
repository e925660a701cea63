"""What a backend can do (`Capabilities`) and the core's check of a job against it.

The core, not each backend, refuses a method or objective a backend lacks: `check_capabilities`
runs in ``job.plan()`` and submit, before anything is planned or spent, with the backend's own
wording from ``Capabilities.unsupported`` where it gives one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from tunesdk.errors import JobError

if TYPE_CHECKING:
    from tunesdk.backend import Backend
    from tunesdk.job import Job


class Capabilities(BaseModel):
    """What a backend can do; used for planning and for ``tunesdk backends``."""

    model_config = ConfigDict(frozen=True)

    objectives: frozenset[str] = frozenset({"sft"})
    methods: frozenset[str] = frozenset({"lora"})
    needs_gpu: bool = False
    multi_process: bool = False
    resume: bool = False
    #: the provider pauses a live job and goes on with it later (`Run.pause` / `Run.unpause`)
    pause: bool = False
    eval: bool = True
    download: bool = False
    notes: str | None = None
    #: why a method or objective this backend lacks is missing and what to use instead, keyed by
    #: its name (``{"adapter": "Together trains LoRA or full fine-tuning only"}``): the wording of
    #: the core's JobError (a generic sentence when a name has none)
    unsupported: dict[str, str] = Field(default_factory=dict)

    def __hash__(self) -> int:  # frozen, so hashable — the dict field hashed by its items
        return hash(
            tuple((k, tuple(sorted(v.items())) if isinstance(v, dict) else v) for k, v in self)
        )


_METHOD_NAMES = {
    "full": "full fine-tuning",
    "lora": "LoRA",
    "qlora": "QLoRA",
    "prefix": "prefix tuning",
    "adapter": "bottleneck adapters",
}


#: the objectives data alone can imply (orpo is only ever chosen explicitly)
_INFERRED = frozenset({"sft", "dpo", "kto"})


def check_capabilities(backend: Backend, job: Job) -> None:
    """JobError, before anything is planned or spent, when ``backend``'s `Capabilities` lack the
    job's method or (given or inferred) objective; the reason is the backend's own wording from
    ``capabilities.unsupported`` where it has one."""
    caps = backend.capabilities
    method = job.method.kind
    if method not in caps.methods:
        offered = ", ".join(m for m in _METHOD_NAMES if m in caps.methods) or "none"
        others = (
            "`method: lora`" if "lora" in caps.methods else f"`method: {offered.split(',')[0]}`"
        )
        reason = caps.unsupported.get(method) or (
            f"{backend.name} cannot train {_METHOD_NAMES.get(method, method)} "
            f"(it trains: {offered})"
        )
        raise JobError(
            reason,
            where="job.method",
            fix=f"use {others} on {backend.name}, or a backend that trains "
            f"{_METHOD_NAMES.get(method, method)} (see `tunesdk backends`)",
        )
    objective = job.objective
    if objective is None and job.rewards:
        objective = "grpo"  # rewards make a job GRPO without reading the data
    if objective is None and not caps.objectives >= _INFERRED:
        objective = job.infer_objective()  # reads the data only for a backend that lacks one
    if objective is not None and objective not in caps.objectives:
        offered = ", ".join(sorted(caps.objectives)) or "none"
        reason = caps.unsupported.get(objective) or (
            f"{backend.name} cannot train objective {objective!r} (it trains: {offered})"
        )
        raise JobError(
            reason,
            where="job.objective",
            fix=f"use a backend that trains {objective} (see `tunesdk backends`), or data and "
            f"an objective {backend.name} trains ({offered})",
        )


__all__ = ["Capabilities", "check_capabilities"]
