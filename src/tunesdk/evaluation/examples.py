"""Held-out examples for evaluation: a prompt (chat messages) and the reference answer.

Read through `tunesdk.data`, so every format it reads works: chat examples (the last assistant
turn is the reference, the turns before it the prompt), prompt/completion pairs, and rows of
``{"question", "answer"}`` or ``{"prompt", "reference"}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from typing import Any

from tunesdk.data import Conversation, Dataset
from tunesdk.errors import DataError

#: column names accepted besides the formats tunesdk.data detects
EVAL_COLUMNS = {"question": "prompt", "answer": "completion", "reference": "completion"}

Messages = list[dict[str, Any]]


@dataclass(frozen=True)
class EvalExample:
    """One held-out example; ``where`` is its file and line, for error messages."""

    id: str
    prompt: Messages
    reference: str
    where: str = ""

    @property
    def prompt_text(self) -> str:
        """The prompt as one readable string (the last user turn, after any earlier turns)."""
        return "\n".join(
            str(m["content"]) if m["role"] == "user" else f"[{m['role']}] {m['content']}"
            for m in self.prompt
        )


def load_examples(data: Any, *, limit: int | None = None) -> list[EvalExample]:
    """Read ``data`` (path, list of dicts, ``datasets.Dataset``, ``tunesdk.Dataset``, or examples
    already read) into examples; DataError naming the file and line of a row that has no reference answer."""
    if limit is not None and limit < 1:
        raise DataError(f"limit must be at least 1, got {limit}", where="limit")
    if isinstance(data, list) and data and all(isinstance(item, EvalExample) for item in data):
        return data[:limit]
    dataset = data if isinstance(data, Dataset) else Dataset.load(data, columns=EVAL_COLUMNS)
    examples = []
    for index, record in enumerate(islice(dataset, limit)):
        where = str(record.source) if record.source else f"example {index}"
        if not isinstance(record, Conversation):
            raise DataError(
                f"evaluation needs examples with a reference answer, got {dataset.format} data",
                where=where,
                fix="use chat examples (the last assistant turn is the reference), "
                'prompt/completion pairs, or {"question", "answer"} rows',
            )
        examples.append(_example(record, index, where))
    if not examples:
        raise DataError("no evaluation examples", where=dataset.name, fix="give at least one")
    return examples


def _example(record: Conversation, index: int, where: str) -> EvalExample:
    identifier = str(record.meta.get("id", index))
    messages = record.messages
    if not record.chat:
        prompt = [{"role": "user", "content": messages[0].text}]
        return EvalExample(identifier, prompt, messages[-1].text, where)
    last = max((i for i, m in enumerate(messages) if m.role == "assistant"), default=None)
    if last is None or last == 0:
        raise DataError(
            "this example has no assistant turn after a prompt to use as the reference",
            where=where,
            fix="end each example with the expected assistant answer",
        )
    prompt = [{"role": m.role, "content": m.text} for m in messages[:last]]
    return EvalExample(identifier, prompt, messages[last].text, where)


__all__ = ["EVAL_COLUMNS", "EvalExample", "load_examples"]
