"""Canonical records: the one shape every input format is read into and every output written from.

Records are plain dataclasses (not pydantic models): a multi-GB file becomes millions of them, and
building them must cost about as much as parsing the JSON line did. Each remembers where it came
from in ``.source`` (file and 1-based line, or row number for tables and in-memory data); the
source never takes part in equality, so a record read back from a converted file equals the
original.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeAlias

#: roles every backend understands; anything else is reported by validation
ROLES = ("system", "user", "assistant", "tool")


class Source(NamedTuple):
    """Where a record came from: a file (or ``<list>``, ``<datasets.Dataset>``) and 1-based line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(slots=True)
class ToolCall:
    """One function call made by the assistant. ``arguments`` is JSON text, as OpenAI writes it."""

    name: str
    arguments: str = "{}"
    id: str | None = None
    type: str = "function"

    def parsed_arguments(self) -> Any:
        """The arguments as Python data (Hugging Face chat templates expect a dict)."""
        try:
            return json.loads(self.arguments)
        except ValueError:
            return self.arguments


@dataclass(slots=True)
class Message:
    """One chat turn. ``weight`` (0 or 1) says whether the turn is trained on (default: assistant
    turns are, others are not)."""

    role: str
    content: str | list[Any] | None = None
    name: str | None = None
    weight: Any = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    #: message keys tunesdk does not model (``reasoning_content``, ...), kept for lossless output
    extra: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        """The content as plain text (text parts joined; non-text parts ignored)."""
        content = self.content
        if content is None:
            return ""
        if isinstance(content, str):
            return content
        return "".join(
            part.get("text", "") if isinstance(part, dict) else str(part) for part in content
        )

    @property
    def trained(self) -> bool:
        """Whether SFT learns from this turn: ``weight`` decides when set, else assistant turns."""
        if self.weight is not None:
            return self.weight == 1
        return self.role == "assistant"


@dataclass(slots=True)
class Conversation:
    """A chat example for supervised fine-tuning.

    ``chat=False`` marks a plain prompt/completion pair: the first message is raw prompt text and
    the second the completion, and local trainers must not wrap them in a chat template.
    """

    messages: list[Message]
    tools: list[Any] | None = None
    parallel_tool_calls: bool | None = None
    chat: bool = True
    #: top-level keys of the row tunesdk does not model (ids, metadata), kept by ``to("jsonl")``
    meta: dict[str, Any] = field(default_factory=dict)
    source: Source | None = field(default=None, compare=False)
    #: a prompt for reinforcement learning (GRPO): no final assistant turn; the model generates
    #: it and rewards score it, reading reference columns (``answer``, ...) from ``meta``
    prompt_only: bool = False
    #: KTO's unpaired preference: whether the final assistant turn is desirable (None: not KTO)
    label: bool | None = None


@dataclass(slots=True)
class Preference:
    """A preference pair for DPO: a shared ``prompt`` and two continuations.

    ``chat=False`` marks plain-string pairs (TRL's "standard" preference type).
    """

    prompt: list[Message]
    chosen: list[Message]
    rejected: list[Message]
    tools: list[Any] | None = None
    parallel_tool_calls: bool | None = None
    chat: bool = True
    meta: dict[str, Any] = field(default_factory=dict)
    source: Source | None = field(default=None, compare=False)


@dataclass(slots=True)
class Text:
    """Raw text for language modelling (continued pre-training)."""

    text: str
    meta: dict[str, Any] = field(default_factory=dict)
    source: Source | None = field(default=None, compare=False)


Record: TypeAlias = Conversation | Preference | Text


def record_text(record: Record) -> str:
    """Every piece of text in a record, newline-joined (for n-gram and length heuristics)."""
    if isinstance(record, Text):
        return record.text
    if isinstance(record, Conversation):
        messages = record.messages
    else:
        messages = [*record.prompt, *record.chosen, *record.rejected]
    parts: list[str] = []
    for message in messages:
        parts.append(message.text)
        for call in message.tool_calls or ():
            parts.append(f"{call.name} {call.arguments}")
    return "\n".join(parts)
