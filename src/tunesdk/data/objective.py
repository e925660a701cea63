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
    "orpo": frozenset({"dpo"}),
    "kto": frozenset({"kto"}),
    "grpo": frozenset({"prompt"}),
}

_NEEDS = {
    "dpo": "preference pairs (a chosen and a rejected answer per prompt)",
    "orpo": "preference pairs (a chosen and a rejected answer per prompt)",
    "kto": "prompt/completion/label rows (label true or false)",
    "grpo": "prompt-only rows (messages without the final assistant turn, or a prompt column, "
    "plus reference columns such as answer)",
}
_ROWS = {
    "dpo": "give prompt/chosen/rejected (or input/preferred_output/non_preferred_output) rows",
    "orpo": "give prompt/chosen/rejected (or input/preferred_output/non_preferred_output) rows",
    "kto": 'give {"prompt": ..., "completion": ..., "label": true|false} rows',
    "grpo": 'give {"prompt": ..., "answer": ...} or {"messages": [system/user turns], "answer": '
    "...} rows (chat prompts with no other column: data: {path: FILE, format: openai_rft})",
}


def objective_problem(objective: str, kind: str, format: str, name: str) -> Problem | None:
    """The whole-file problem when data of ``kind`` (format ``format``) cannot train
    ``objective``; None when it can (or the objective is unknown here)."""
    kinds = OBJECTIVE_KINDS.get(objective)
    if kinds is None or kind in kinds:
        return None
    if objective == "sft" and kind == "dpo":
        message = (
            f"objective is sft, but the data is preference pairs ({format}: a chosen and a "
            "rejected answer per prompt), which SFT cannot train on"
        )
        fix = (
            "set `objective: dpo` (or leave objective unset to infer it from the data), or give "
            "SFT data: conversations (messages), prompt/completion or text"
        )
    elif objective == "sft" and kind in ("prompt", "kto"):
        message = f"objective is sft, but the data is {format} ({kind}): " + (
            "prompts without answers, which SFT cannot learn from"
            if kind == "prompt"
            else "labelled completions for KTO"
        )
        fix = (
            "set `objective: grpo` with rewards"
            if kind == "prompt"
            else "set `objective: kto` (or leave objective unset to infer it from the data)"
        ) + ", or give SFT data: conversations with answers, prompt/completion or text"
    else:
        message = (
            f"objective is {objective}, but the data is {format} ({kind}); "
            f"{objective.upper()} trains on {_NEEDS.get(objective, objective)}"
        )
        fix = (
            f"{_ROWS.get(objective, 'give data that suits the objective')}, or set "
            "`objective: sft` (or leave objective unset to infer it from the data)"
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


def require_preference_pairs(dataset: Any, name: str = "data") -> None:
    """DataError unless ``dataset`` (a `tunesdk.data.Dataset`, the job's ``name``) holds
    preference pairs: what a DPO trainer checks again at the start of training."""
    if dataset.kind != "dpo":
        raise DataError(
            f"objective dpo needs preference pairs, but the {name} is {dataset.kind}",
            where=f"job.{name}",
            fix="give prompt/chosen/rejected examples, or use objective='sft'",
        )


def require_prompt_only(record: Any) -> None:
    """DataError unless ``record`` is a prompt-only row (a prompt and reference columns, no
    answer): what a GRPO trainer samples from."""
    if not getattr(record, "prompt_only", False):
        raise DataError(
            f"objective grpo needs prompt-only rows, but {record.source or 'a row'} has an answer",
            where="job.data",
            fix='give {"prompt": ..., "answer": ...} rows, or messages without the final '
            "assistant turn",
        )
