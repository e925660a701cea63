"""Dataset checks the emulator applies on upload, following Fireworks' published dataset rules.

Sources: docs.fireworks.ai "Supervised Fine Tuning - Text" and "Direct Preference Optimization":
JSONL, 3 to 3,000,000 examples; chat examples carry a ``messages`` array of ``{role, content}`` with
role system/user/assistant (tool for function-calling data), an optional system message only in
first position and an optional per-message ``weight`` of 0 or 1; preference examples carry
``input.messages`` plus one-message ``preferred_output`` / ``non_preferred_output`` assistant lists.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

MIN_EXAMPLES = 3
MAX_EXAMPLES = 3_000_000
CHAT_ROLES = frozenset({"system", "user", "assistant", "tool"})
MAX_REPORTED = 20

#: prompt: reinforcement fine-tuning rows, ``messages`` ending on a user turn plus ground truth
DatasetKind = Literal["chat", "preference", "prompt"]


@dataclass
class DatasetReport:
    """What an uploaded dataset holds, or why it is refused."""

    examples: int = 0
    kind: DatasetKind | None = None
    estimated_tokens: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        shown = "; ".join(self.problems[:MAX_REPORTED])
        more = len(self.problems) - MAX_REPORTED
        return shown + (f"; and {more} more" if more > 0 else "")


def validate_files(paths: Iterable[Path]) -> DatasetReport:
    """Check every JSONL shard of a dataset; all shards must hold the same kind of example."""
    report = DatasetReport()
    for path in paths:
        if path.suffix != ".jsonl":
            report.problems.append(f"{path.name}: dataset files must be .jsonl")
            continue
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                _check_line(report, f"{path.name}:{number}", raw)
    if report.examples < MIN_EXAMPLES and not report.problems:
        report.problems.append(
            f"the dataset has {report.examples} example(s); at least {MIN_EXAMPLES} are required"
        )
    if report.examples > MAX_EXAMPLES:
        report.problems.append(
            f"the dataset has {report.examples} examples; at most {MAX_EXAMPLES}"
        )
    return report


def _check_line(report: DatasetReport, where: str, raw: bytes) -> None:
    try:
        row = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        report.problems.append(f"{where}: not valid JSON ({exc})")
        return
    if not isinstance(row, dict):
        report.problems.append(f"{where}: each line must be a JSON object")
        return
    kind: DatasetKind = "preference" if "preferred_output" in row else _chat_or_prompt(row)
    if report.kind is None:
        report.kind = kind
    elif report.kind != kind:
        why = ""
        if {kind, report.kind} == {"chat", "prompt"}:
            # a chat row without an answer reads as a reinforcement prompt
            why = " (a row ending on a user turn has no assistant message: it is an RFT prompt)"
        report.problems.append(
            f"{where}: mixes {kind} and {report.kind} examples in one dataset{why}"
        )
        return
    check = {"preference": _check_preference, "prompt": _check_prompt}.get(kind, _check_chat)
    problems = check(row)
    report.problems.extend(f"{where}: {problem}" for problem in problems)
    report.examples += 1
    report.estimated_tokens += max(1, len(raw) // 4)


def _chat_or_prompt(row: dict[str, Any]) -> DatasetKind:
    messages = row.get("messages")
    last = messages[-1] if isinstance(messages, list) and messages else None
    return "prompt" if isinstance(last, dict) and last.get("role") == "user" else "chat"


def _check_prompt(row: dict[str, Any]) -> list[str]:
    """An RFT row: the prompt messages (the model writes the answer the evaluator scores)."""
    return _check_messages(row["messages"], "messages")


def _check_chat(row: dict[str, Any]) -> list[str]:
    messages = row.get("messages")
    if not isinstance(messages, list) or not messages:
        return ["missing a non-empty 'messages' array"]
    problems = _check_messages(messages, "messages")
    if not any(isinstance(m, dict) and m.get("role") == "assistant" for m in messages):
        problems.append("'messages' has no assistant message to train on")
    return problems


def _check_preference(row: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    source = row.get("input")
    messages = source.get("messages") if isinstance(source, dict) else None
    if not isinstance(messages, list) or not messages:
        problems.append("missing 'input.messages'")
    else:
        problems.extend(_check_messages(messages, "input.messages"))
    for key in ("preferred_output", "non_preferred_output"):
        output = row.get(key)
        if not isinstance(output, list) or len(output) != 1:
            problems.append(f"'{key}' must be a list holding one assistant message")
            continue
        message = output[0]
        if not isinstance(message, dict) or message.get("role") != "assistant":
            problems.append(f"'{key}[0]' must be an assistant message")
        elif not isinstance(message.get("content"), str):
            problems.append(f"'{key}[0].content' must be a string")
    return problems


def _check_messages(messages: list[Any], where: str) -> list[str]:
    problems: list[str] = []
    for index, message in enumerate(messages):
        at = f"{where}[{index}]"
        if not isinstance(message, dict):
            problems.append(f"{at} must be an object with 'role' and 'content'")
            continue
        role = message.get("role")
        if role not in CHAT_ROLES:
            problems.append(f"{at}.role is {role!r}; use system, user, assistant or tool")
        elif role == "system" and index != 0:
            problems.append(f"{at}: a system message may only come first")
        content = message.get("content")
        has_tool_calls = role == "assistant" and bool(message.get("tool_calls"))
        if not isinstance(content, str) and not (content is None and has_tool_calls):
            problems.append(f"{at}.content must be a string")
        if "weight" in message and message["weight"] not in (0, 1):
            problems.append(f"{at}.weight must be 0 or 1")
    return problems


__all__ = ["MAX_EXAMPLES", "MIN_EXAMPLES", "DatasetReport", "validate_files"]
