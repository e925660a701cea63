"""Whether data suits an objective: SFT trains on conversations, pairs or text; DPO on preference
pairs. Checked when a job is planned, so a mismatch fails before any worker starts or upload."""

from __future__ import annotations

from typing import Any

from tunesdk.data.report import Problem
from tunesdk.errors import DataError

#: data kinds each objective trains on
OBJECTIVE_KINDS: dict[str, frozenset[str]] = {
    "sft": frozenset({"sft", "text"}),
    "dpo": frozenset({"dpo"}),
}


def objective_problem(objective: str, kind: str, format: str, name: str) -> Problem | None:
    """The whole-file problem when data of ``kind`` (format ``format``) cannot train
    ``objective``; None when it can (or the objective is unknown here)."""
    kinds = OBJECTIVE_KINDS.get(objective)
    if kinds is None or kind in kinds:
        return None
    if objective == "sft":
        message = (
            f"objective is sft, but the data is preference pairs ({format}: a chosen and a "
            "rejected answer per prompt), which SFT cannot train on"
        )
        fix = (
            "set `objective: dpo` (or leave objective unset to infer it from the data), or give "
            "SFT data: conversations (messages), prompt/completion or text"
        )
    else:
        message = (
            f"objective is dpo, but the data is {format} ({kind}); DPO trains on preference "
            "pairs (a chosen and a rejected answer per prompt)"
        )
        fix = (
            "give prompt/chosen/rejected (or input/preferred_output/non_preferred_output) rows, "
            "or set `objective: sft` (or leave objective unset to infer it from the data)"
        )
    return Problem(file=name, field="objective", message=message, fix=fix)


def check_objective(objective: str | None, **sources: Any) -> None:
    """DataError when any of ``sources`` (e.g. ``data=..., eval_data=...``) does not suit
    ``objective``. Only the format is read (the first rows); a source that cannot be opened is
    left to validation, which reports it with every other problem."""
    if objective is None:
        return
    from tunesdk.data.dataset import Dataset

    for role, source in sources.items():
        if source is None:
            continue
        try:
            dataset = Dataset.load(source)
        except DataError:
            continue
        problem = objective_problem(objective, dataset.kind, dataset.format, dataset.name)
        if problem is not None:
            raise DataError(
                problem.message,
                where=f"job.{role} ({dataset.name})",
                fix=f"{problem.fix} (nothing was started or uploaded)",
            )
