"""Server-side dataset validation, following Together's data-preparation rules.

The SDK only checks that a JSONL file is UTF-8 with one JSON object per line; the platform checks
the rest after upload and records the outcome on the file (``processing_status`` and
``validation_report``). This module is that second check, streamed line by line:

- every line uses one of four formats, and the whole file uses the same one:
  conversational (``messages``), instruction (``prompt`` + ``completion``), preference (``input`` +
  ``preferred_output`` + ``non_preferred_output``) or generic text (``text``); a line matching two
  formats is rejected;
- conversations start with ``system`` or ``user``, then alternate ``user``/``assistant`` (``tool``
  messages may follow an assistant turn), contain at least one ``assistant`` message, and
  per-message ``weight`` is 0 or 1;
- preference inputs are conversations that end on a user turn; each output is exactly one assistant
  message;
- Parquet files are pre-tokenized: an ``input_ids`` column, optionally ``attention_mask``,
  ``labels`` and ``position_ids``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMATS = {
    "CONVERSATION": ("messages",),
    "INSTRUCTION": ("prompt", "completion"),
    "PREFERENCE_OPENAI": ("input", "preferred_output", "non_preferred_output"),
    "GENERAL": ("text",),
}
ROLES = {"system", "user", "assistant", "tool"}
PARQUET_COLUMNS = {"input_ids", "attention_mask", "labels", "position_ids"}


@dataclass
class Report:
    """The outcome of validating one uploaded file."""

    valid: bool
    dataset_format: str | None = None
    nlines: int = 0
    error: str | None = None
    line: int | None = None
    has_tools: bool = False

    def as_json(self, file_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "valid": self.valid,
            "file_id": file_id,
            "nlines": self.nlines,
            "dataset_format": self.dataset_format,
            "dataset_has_tools": self.has_tools,
        }
        if not self.valid:
            body["error"] = self.error
            body["error_type"] = "INVALID_FORMAT"
        return body


class _LineError(ValueError):
    pass


def validate_file(path: Path, file_type: str) -> Report:
    """Validate an uploaded training/validation file the way Together's pipeline does."""
    if file_type == "parquet":
        return _validate_parquet(path)
    if file_type != "jsonl":
        return Report(False, error=f"file type {file_type!r} cannot be used for fine-tuning")
    return _validate_jsonl(path)


def _validate_jsonl(path: Path) -> Report:
    detected: str | None = None
    count = 0
    has_tools = False
    lines_read = 0
    try:
        with path.open(encoding="utf-8") as handle:
            for line_no, raw in enumerate(handle, start=1):
                lines_read = line_no
                if not raw.strip():
                    continue
                try:
                    record, detected = _check_line(raw, detected)
                except _LineError as exc:
                    return Report(
                        False,
                        dataset_format=detected,
                        nlines=count,
                        error=f"Invalid format on line {line_no} of the input file: {exc}",
                        line=line_no,
                    )
                has_tools = has_tools or bool(record.get("tools"))
                count += 1
    except UnicodeDecodeError:
        return Report(False, error="the file is not UTF-8 encoded", line=lines_read + 1)
    if count == 0:
        return Report(False, error="the file holds no samples (the minimum is 1)")
    return Report(True, dataset_format=detected, nlines=count, has_tools=has_tools)


def _check_line(raw: str, detected: str | None) -> tuple[dict[str, Any], str]:
    """The parsed record and its format; _LineError when the line breaks a rule."""
    try:
        record = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise _LineError(f"invalid JSON ({exc.msg})") from None
    if not isinstance(record, dict):
        raise _LineError("each line must be a JSON object")
    fmt = _detect(record)
    if detected is not None and fmt != detected:
        raise _LineError(
            f"line is in {fmt} format but earlier lines are {detected}; "
            "use one format for the whole file"
        )
    _CHECKS[fmt](record)
    return record, fmt


def _detect(record: dict[str, Any]) -> str:
    matches = [name for name, keys in FORMATS.items() if all(k in record for k in keys)]
    if len(matches) > 1:
        raise _LineError(f"line matches more than one format ({', '.join(matches)}); keep one")
    if not matches:
        expected = "; ".join(" + ".join(keys) for keys in FORMATS.values())
        raise _LineError(
            f"unknown format: found keys {sorted(record)}, expected one of: {expected}"
        )
    return matches[0]


def _check_text(record: dict[str, Any]) -> None:
    if not isinstance(record["text"], str) or not record["text"]:
        raise _LineError('"text" must be a non-empty string')


def _check_instruction(record: dict[str, Any]) -> None:
    for key in ("prompt", "completion"):
        if not isinstance(record[key], str):
            raise _LineError(f'"{key}" must be a string')
    if not record["completion"]:
        raise _LineError('"completion" is empty')


def _check_conversation(record: dict[str, Any]) -> None:
    messages = record["messages"]
    _check_messages(messages, "messages")
    if not any(m["role"] == "assistant" for m in messages):
        raise _LineError('"messages" has no assistant message to train on')


def _check_preference(record: dict[str, Any]) -> None:
    source = record["input"]
    if not isinstance(source, dict) or "messages" not in source:
        raise _LineError('"input" must be an object with a "messages" list')
    messages = source["messages"]
    _check_messages(messages, "input.messages")
    if messages[-1]["role"] != "user":
        raise _LineError('"input.messages" must end with a user message')
    for key in ("preferred_output", "non_preferred_output"):
        output = record[key]
        if not isinstance(output, list) or len(output) != 1 or not isinstance(output[0], dict):
            raise _LineError(f'"{key}" must be a list holding exactly one assistant message')
        message = output[0]
        if message.get("role") != "assistant" or not isinstance(message.get("content"), str):
            raise _LineError(f'"{key}[0]" must be {{"role": "assistant", "content": "<text>"}}')


def _check_messages(messages: Any, where: str) -> None:
    if not isinstance(messages, list) or not messages:
        raise _LineError(f'"{where}" must be a non-empty list')
    previous: str | None = None
    for index, message in enumerate(messages):
        at = f"{where}[{index}]"
        if not isinstance(message, dict):
            raise _LineError(f"{at} must be an object")
        role = message.get("role")
        if role not in ROLES:
            raise _LineError(f"{at}.role is {role!r}; use one of {sorted(ROLES)}")
        content = message.get("content")
        if content is None and not (role == "assistant" and message.get("tool_calls")):
            raise _LineError(f"{at} has no content")
        if content is not None and not isinstance(content, str | list):
            raise _LineError(f"{at}.content must be a string or a list of content parts")
        if "weight" in message and message["weight"] not in (0, 1):
            raise _LineError(f"{at}.weight must be 0 or 1")
        _check_turn_order(previous, role, at)
        previous = role


def _check_turn_order(previous: str | None, role: str, at: str) -> None:
    if previous is None:
        if role not in ("system", "user"):
            raise _LineError(f"{at}: a conversation must start with a system or user message")
        return
    allowed = {
        "system": {"user"},
        "user": {"assistant"},
        "assistant": {"user", "tool"},
        "tool": {"tool", "assistant"},
    }[previous]
    if role not in allowed:
        raise _LineError(
            f"{at}: {role} follows {previous}; turns must alternate user and assistant"
        )


_CHECKS = {
    "CONVERSATION": _check_conversation,
    "INSTRUCTION": _check_instruction,
    "PREFERENCE_OPENAI": _check_preference,
    "GENERAL": _check_text,
}


def _validate_parquet(path: Path) -> Report:
    try:
        from pyarrow import parquet
    except ImportError:  # pragma: no cover - pyarrow is optional
        return Report(False, error="the emulator needs pyarrow to read Parquet files")
    try:
        schema = parquet.read_schema(path)
        rows = parquet.ParquetFile(path).metadata.num_rows
    except Exception as exc:
        return Report(False, error=f"not a readable Parquet file ({exc})")
    columns = set(schema.names)
    if "input_ids" not in columns:
        return Report(False, error="a tokenized Parquet file needs an input_ids column")
    extra = columns - PARQUET_COLUMNS
    if extra:
        return Report(False, error=f"unexpected Parquet columns {sorted(extra)}")
    if rows == 0:
        return Report(False, error="the file holds no samples (the minimum is 1)")
    return Report(True, dataset_format="TOKENIZED", nlines=rows)


__all__ = ["Report", "validate_file"]
