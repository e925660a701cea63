"""OpenAI's documented rules for fine-tuning files, checked the way the service checks them.

Uploads are checked for what the Files API rejects at once (extension, size); the contents are
checked when a job moves through ``validating_files``, and a bad file fails the job with the
``error`` object the real service sets (code, message naming the line, param ``training_file``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

MIN_EXAMPLES = 10
ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
MESSAGE_KEYS = frozenset(
    {"role", "content", "name", "weight", "function_call", "tool_calls", "tool_call_id", "refusal"}
)
MAX_REPORTED = 5


@dataclass(frozen=True)
class FileReport:
    """What validating one fine-tuning file found."""

    examples: int
    tokens: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate (about four characters per token), enough to size a simulation."""
    return max(1, (len(text) + 3) // 4)


def validate_file(content: bytes, method: str, *, context: int, min_examples: int) -> FileReport:
    """Check a JSONL file for ``method`` ("supervised", "dpo" or "reinforcement") and count
    examples and tokens."""
    problems: list[str] = []
    examples = tokens = 0
    check = {"dpo": _check_dpo, "reinforcement": _check_reinforcement}.get(
        method, _check_supervised
    )
    for line_no, raw in _lines(content):
        try:
            example = json.loads(raw)
        except json.JSONDecodeError as exc:
            problems.append(f"line {line_no}: not valid JSON ({exc.msg})")
            continue
        if not isinstance(example, dict):
            problems.append(f"line {line_no}: each line must be a JSON object")
            continue
        found = check(example)
        if found:
            problems.extend(f"line {line_no}: {p}" for p in found)
            continue
        example_tokens = estimate_tokens(raw)
        if example_tokens > context:
            problems.append(
                f"line {line_no}: example has about {example_tokens} tokens, more than the "
                f"model's {context}-token training context"
            )
        examples += 1
        tokens += example_tokens
    if not problems and examples < min_examples:
        problems.append(
            f"training file has {examples} example(s), but must have at least {min_examples}"
        )
    return FileReport(examples=examples, tokens=tokens, problems=problems)


def describe(report: FileReport, param: str) -> str:
    """The job error message for a failed file, naming the first few problems."""
    shown = "; ".join(report.problems[:MAX_REPORTED])
    more = len(report.problems) - MAX_REPORTED
    extra = f" (and {more} more)" if more > 0 else ""
    return f"The job failed due to an invalid {param.replace('_', ' ')}. {shown}{extra}"


def _lines(content: bytes) -> Iterator[tuple[int, str]]:
    text = content.decode("utf-8", errors="replace")
    for line_no, raw in enumerate(text.splitlines(), start=1):
        if raw.strip():
            yield line_no, raw


def _check_messages(messages: Any, where: str) -> list[str]:
    if not isinstance(messages, list) or not messages:
        return [f"{where} must be a non-empty list of messages"]
    problems: list[str] = []
    for i, message in enumerate(messages):
        at = f"{where}[{i}]"
        if not isinstance(message, dict):
            problems.append(f"{at} must be an object")
            continue
        unknown = set(message) - MESSAGE_KEYS
        if unknown:
            problems.append(f"{at} has unrecognized key(s) {sorted(unknown)}")
        role = message.get("role")
        if role not in ROLES:
            problems.append(f"{at}.role {role!r} is not one of {sorted(ROLES)}")
        content = message.get("content")
        if content is None and not message.get("tool_calls") and not message.get("function_call"):
            problems.append(f"{at} has no content")
        elif content is not None and not isinstance(content, str | list):
            problems.append(f"{at}.content must be a string or a list of content parts")
        if "weight" in message:
            if role != "assistant":
                problems.append(f"{at}.weight is only allowed on assistant messages")
            elif message["weight"] not in (0, 1):
                problems.append(f"{at}.weight must be 0 or 1")
    return problems


def _check_supervised(example: dict[str, Any]) -> list[str]:
    if "messages" not in example:
        return ["missing 'messages' (chat format: {\"messages\": [...]})"]
    problems = _check_messages(example["messages"], "messages")
    if not problems and not any(
        isinstance(m, dict) and m.get("role") == "assistant" for m in example["messages"]
    ):
        problems.append("example has no assistant message to learn from")
    return problems


def _check_dpo(example: dict[str, Any]) -> list[str]:
    missing = [k for k in ("input", "preferred_output", "non_preferred_output") if k not in example]
    if missing:
        return [
            f"missing {missing} (preference format: input, preferred_output, non_preferred_output)"
        ]
    problems: list[str] = []
    given = example["input"]
    if not isinstance(given, dict):
        problems.append("input must be an object with 'messages'")
    else:
        problems += _check_messages(given.get("messages"), "input.messages")
    for key in ("preferred_output", "non_preferred_output"):
        output = example[key]
        problems += _check_messages(output, key)
        if isinstance(output, list) and (
            len(output) != 1
            or not isinstance(output[0], dict)
            or output[0].get("role") != "assistant"
        ):
            problems.append(f"{key} must hold exactly one assistant message")
    return problems


def _check_reinforcement(example: dict[str, Any]) -> list[str]:
    """RFT: chat messages ending on the user turn; any other keys are reference columns."""
    if "messages" not in example:
        return ["missing 'messages' (reinforcement format: {\"messages\": [...], ...})"]
    messages = example["messages"]
    problems = _check_messages(messages, "messages")
    if not problems and not (isinstance(messages[-1], dict) and messages[-1].get("role") == "user"):
        problems.append(
            "the last message must have role 'user' (the model writes the answer the grader scores)"
        )
    return problems
