"""Reinforcement fine-tuning on OpenAI: the job's rewards as one grader, and prompt-only data.

OpenAI grades completions with its own graders (``method.reinforcement.grader``), so every reward
must be a grader from `tunesdk.graders`: a Python callable or a ``"module:function"`` string
cannot run at OpenAI, and the plan refuses it with the fix. Several rewards become one ``multi``
grader whose ``calculate_output`` is the (weighted) sum of their scores.

RFT data is a ``messages`` list that ends on the user turn, plus any reference columns the graders
read as ``{{item.<column>}}``; TRL's ``prompt`` column (text or messages) is converted to it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunesdk.errors import DataError, JobError
from tunesdk.graders.portable import provider_graders

if TYPE_CHECKING:
    from tunesdk.job import Job

MULTI_NAME = "tunesdk_rewards"
USE_A_GRADER = (
    "use a grader (ts.graders.StringCheck, TextSimilarity, Python, ScoreModel or Multi): OpenAI "
    "runs graders, not your code; put custom logic in ts.graders.Python(source=...), or train "
    "with this reward on a local backend (trl, unsloth)"
)


def grader(job: Job) -> dict[str, Any]:
    """``method.reinforcement.grader``: the one grader, or a ``multi`` grader over several."""
    graders = provider_graders(
        job,
        needs="OpenAI reinforcement fine-tuning needs a grader",
        cannot="OpenAI cannot run {what} as a reward",
        fix=USE_A_GRADER,
    )
    weights = getattr(job, "reward_weights", None)
    if weights is not None and len(weights) != len(graders):
        raise JobError(
            f"reward_weights has {len(weights)} weight(s) for {len(graders)} reward(s)",
            where="job.reward_weights",
            fix="give one weight per reward, or leave reward_weights unset",
        )
    if len(graders) == 1 and (weights is None or weights[0] == 1.0):
        return graders[0]
    return multi(graders, weights)


def _variable(name: str, taken: set[str]) -> str:
    base = re.sub(r"\W+", "_", name).strip("_").lower() or "grader"
    if base[0].isdigit():
        base = f"g_{base}"
    found, n = base, 2
    while found in taken:
        found, n = f"{base}_{n}", n + 1
    taken.add(found)
    return found


def multi(graders: list[dict[str, Any]], weights: list[float] | None) -> dict[str, Any]:
    """One ``multi`` grader: each grader keyed by a formula-safe name (its ``name``, cleaned),
    ``calculate_output`` the weighted sum of their scores (weights 1 when unset)."""
    taken: set[str] = set()
    keyed: dict[str, dict[str, Any]] = {}
    terms: list[str] = []
    for index, found in enumerate(graders):
        key = _variable(str(found.get("name") or found.get("type")), taken)
        keyed[key] = found
        weight = 1.0 if weights is None else float(weights[index])
        terms.append(key if weight == 1.0 else f"{weight:g} * {key}")
    return {
        "type": "multi",
        "name": MULTI_NAME,
        "graders": keyed,
        "calculate_output": " + ".join(terms),
    }


# ---- data ---------------------------------------------------------------------------------------


def rft_row(row: Any, where: str) -> dict[str, Any]:
    """One example in OpenAI's RFT shape: ``messages`` ending on the user turn + reference columns."""
    if not isinstance(row, dict):
        raise DataError(
            "each row must be a JSON object",
            where=where,
            fix='e.g. {"prompt": "...", "answer": "..."}',
        )
    columns = {k: v for k, v in row.items() if k not in ("messages", "prompt")}
    if "messages" in row:
        messages = row["messages"]
    elif "prompt" in row:
        prompt = row["prompt"]
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
    else:
        raise DataError(
            "a reinforcement fine-tuning row needs 'messages' or 'prompt'",
            where=where,
            fix='give the prompt as {"prompt": "..."} or {"messages": [{"role": "user", ...}]}, '
            "plus the columns your graders read (e.g. answer)",
        )
    if not isinstance(messages, list) or not messages:
        raise DataError(
            "the prompt must be text or a non-empty list of messages",
            where=where,
            fix='e.g. {"messages": [{"role": "user", "content": "..."}]}',
        )
    last = messages[-1]
    if not isinstance(last, dict) or last.get("role") != "user":
        ends = last.get("role") if isinstance(last, dict) else last
        raise DataError(
            "OpenAI's reinforcement fine-tuning needs the messages to end on a user turn, this "
            f"one ends on {ends!r}",
            where=where,
            fix="drop the final assistant answer from messages and keep it as a reference column "
            "(e.g. answer) for the grader to read as {{item.answer}}",
        )
    return {"messages": messages, **columns}


def write_rft(source: Any, path: Path, *, rows: list[Any] | None = None) -> Path:
    """Write ``source`` (a data file/dir/glob or a list of rows) as an RFT JSONL file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for where, row in rows_of(source) if rows is None else _listed(rows):
            out.write(json.dumps(rft_row(row, where), ensure_ascii=False) + "\n")
    return path


def rows_of(source: Any) -> Iterator[tuple[str, Any]]:
    """(where, row) for every row of a data source, a read problem raised as a DataError."""
    from tunesdk.data.sources import iter_files, iter_items, resolve_paths

    if isinstance(source, str | Path):
        raw = iter_files(resolve_paths(source))
    else:
        raw = iter_items(list(source), "<rows>")
    for place, row, problem in raw:
        if problem is not None:
            raise DataError(problem.message, where=problem.where, fix=problem.fix)
        yield str(place), row


def _listed(rows: list[Any]) -> Iterator[tuple[str, Any]]:
    for number, row in enumerate(rows, 1):
        yield f"row {number}", row


__all__ = ["MULTI_NAME", "USE_A_GRADER", "grader", "multi", "rft_row", "rows_of", "write_rft"]
