"""Input formats: detecting which one a row is in, and parsing it into a canonical record.

Parsers check structure only (types, required keys) and raise ``RowError`` naming the field;
meaning (empty turns, roles a backend refuses, unmatched tool calls) is checked by
``tunesdk.data.rules`` so that it can depend on the backend.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tunesdk.data.records import Conversation, Message, Preference, Record, Source, Text, ToolCall

#: format name -> the objective its data suits
KINDS: dict[str, str] = {
    "openai_chat": "sft",
    "sharegpt": "sft",
    "alpaca": "sft",
    "prompt_completion": "sft",
    "text": "text",
    "preference": "dpo",
    "openai_dpo": "dpo",
    "openai_rft": "prompt",
    "prompt_only": "prompt",
    "kto": "kto",
}
FORMATS = tuple(KINDS)

#: formats a row may be detected as inside a file of the other: a chat row without its answer
#: in an SFT file (validation reports the missing turn) or an answered row in an RFT file (its
#: parser explains)
SAME_FAMILY = frozenset({("openai_chat", "openai_rft"), ("openai_rft", "openai_chat")})

#: ShareGPT speaker names -> canonical roles (Axolotl's and FastChat's aliases)
SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "model": "assistant",
    "system": "system",
    "tool": "tool",
}

_MESSAGE_KEYS = frozenset({"role", "content", "name", "weight", "tool_calls", "tool_call_id"})


class RowError(ValueError):
    """A row that cannot become a record: ``field`` names where, ``fix`` how to repair it."""

    def __init__(self, field: str | None, message: str, fix: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.fix = fix


def detect(row: Any) -> str | None:
    """The format a row is in, judged by its keys; None when no format matches."""
    if not isinstance(row, dict):
        return None
    if "messages" in row:
        messages = row["messages"]
        # prompt-only (OpenAI RFT): no assistant turn at all, and a reference column for the
        # grader (a bare user turn is an SFT row missing its answer, which validation reports;
        # RFT without reference columns or with multi-turn prompts: format="openai_rft")
        if (
            len(row) > 1
            and not _CHAT_KEYS.issuperset(row)
            and isinstance(messages, list)
            and messages
            and all(
                isinstance(m, dict) and m.get("role") not in ("assistant", None) for m in messages
            )
        ):
            return "openai_rft"
        return "openai_chat"
    if "conversations" in row:
        return "sharegpt"
    if "preferred_output" in row and "non_preferred_output" in row and "input" in row:
        return "openai_dpo"
    if "chosen" in row and "rejected" in row:
        return "preference"
    if "instruction" in row and "output" in row:
        return "alpaca"
    if "prompt" in row and "completion" in row:
        return "kto" if isinstance(row.get("label"), bool) else "prompt_completion"
    if "text" in row:
        return "text"
    if "prompt" in row:
        return "prompt_only"
    return None


def undetectable(row: Any) -> RowError:
    """The error for a row that matches no format."""
    if not isinstance(row, dict):
        return RowError(
            None,
            f"row is a JSON {_json_type(row)}, not an object",
            'write one JSON object per example, e.g. {"messages": [...]}',
        )
    keys = ", ".join(sorted(map(str, row))) or "none"
    return RowError(
        None,
        f"keys ({keys}) match no known format",
        "use messages / conversations / instruction+output / prompt+completion / text / "
        "prompt+chosen+rejected / input+preferred_output+non_preferred_output / prompt "
        "(prompt-only, for GRPO) / prompt+completion+label (KTO), or map your "
        f"columns, e.g. columns={{{_example_map(row)}}} (CLI: --columns "
        f"{_example_flag(row)}; YAML: data: {{path: FILE, columns: {{...}}}})",
    )


def _example_pairs(row: dict[Any, Any]) -> list[tuple[str, str]]:
    keys = [str(key) for key in row][:2] or ["question", "answer"]
    return list(zip(keys, ("prompt", "completion"), strict=False))


def _example_map(row: dict[Any, Any]) -> str:
    return ", ".join(f'"{theirs}": "{ours}"' for theirs, ours in _example_pairs(row))


def _example_flag(row: dict[Any, Any]) -> str:
    return ",".join(f"{theirs}={ours}" for theirs, ours in _example_pairs(row))


def parse(row: Any, fmt: str, source: Source | None) -> Record:
    """Parse one row of format ``fmt`` into a record; raises ``RowError``."""
    if not isinstance(row, dict):
        raise undetectable(row)
    return _PARSERS[fmt](row, source)


#: the keys the formats read: the names a column mapping maps to
FIELDS = frozenset(
    {
        "messages",
        "conversations",
        "instruction",
        "input",
        "output",
        "system",
        "prompt",
        "completion",
        "text",
        "chosen",
        "rejected",
        "preferred_output",
        "non_preferred_output",
        "tools",
        "label",
    }
)


def normalize_columns(columns: dict[str, str]) -> dict[str, str]:
    """A user column mapping as ``{their name, lower-cased: our field}``.

    Either direction is accepted: ``{"Question": "prompt"}`` and ``{"prompt": "Question"}`` mean
    the same (a pair is turned round when only its key is one of ``FIELDS``).
    """
    normalized: dict[str, str] = {}
    for key, value in columns.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise RowError(
                "columns",
                f"column mapping {key!r}: {value!r} is not text: text",
                'write columns as {"Question": "prompt", "Answer": "completion"}',
            )
        theirs, ours = key, value
        if key.lower() in FIELDS and value.lower() not in FIELDS:
            theirs, ours = value, key
        normalized[theirs.lower()] = ours.lower() if ours.lower() in FIELDS else ours
    return normalized


def rename_columns(row: Any, columns: dict[str, str]) -> Any:
    """Apply a normalized column mapping (see ``normalize_columns``) to one row; column names
    match case-insensitively."""
    if not isinstance(row, dict):
        return row
    get = columns.get
    return {get(key.lower(), key) if isinstance(key, str) else key: v for key, v in row.items()}


def case_folded(row: Any) -> dict[str, str] | None:
    """The mapping that makes a row detectable by lower-casing its keys (``Prompt`` → ``prompt``),
    or None when that does not help."""
    if not isinstance(row, dict):
        return None
    mapping = {
        key.lower(): key.lower()
        for key in row
        if isinstance(key, str) and key != key.lower() and key.lower() in FIELDS
    }
    if not mapping or detect(rename_columns(row, mapping)) is None:
        return None
    return mapping


# ---- helpers ------------------------------------------------------------------------------------


def _json_type(value: Any) -> str:
    names = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _structured(value: Any, shape: type = list) -> Any:
    """CSV cells and some table columns hold JSON as text: decode it when it is ``shape``."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        return decoded if isinstance(decoded, shape) else value
    return value


def _maybe_messages(value: Any) -> Any:
    """A field that is either text or a message list (prompt, completion, chosen, rejected).

    Text that happens to be JSON (a completion teaching JSON output) stays text; only a JSON
    list of role-bearing objects is taken for messages.
    """
    decoded = _structured(value)
    if decoded is not value and not (
        decoded and all(isinstance(item, dict) and "role" in item for item in decoded)
    ):
        return value
    return decoded


def _require(row: dict[str, Any], key: str, fmt: str) -> Any:
    if key not in row:
        raise RowError(key, f"missing {key!r}", f"every {fmt} row needs {key!r}")
    return row[key]


def _string(value: Any, field: str) -> str:
    if isinstance(value, str):
        return value
    raise RowError(field, f"expected a string, got a JSON {_json_type(value)}", "write text here")


def _meta(row: dict[str, Any], known: frozenset[str]) -> dict[str, Any]:
    if len(row) <= len(known) and known.issuperset(row):
        return {}
    return {key: value for key, value in row.items() if key not in known}


def _tools(value: Any, field: str) -> list[Any] | None:
    value = _structured(value)
    if value is None:
        return None
    if not isinstance(value, list):
        raise RowError(
            field,
            f"expected a list of tools, got a JSON {_json_type(value)}",
            'write [{"type": "function", "function": {"name": ..., "parameters": ...}}]',
        )
    return value


def _tool_call(value: Any, field: str) -> ToolCall:
    if not isinstance(value, dict):
        raise RowError(
            field,
            f"tool call is a JSON {_json_type(value)}, not an object",
            'write {"type": "function", "function": {"name": ..., "arguments": "..."}}',
        )
    function = value.get("function", value)
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise RowError(
            f"{field}.function.name",
            "tool call has no function name",
            'write {"function": {"name": "get_weather", "arguments": "{...}"}}',
        )
    arguments = function.get("arguments", "{}")
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments, ensure_ascii=False)
    call_id = value.get("id")
    return ToolCall(
        name=function["name"],
        arguments=arguments,
        id=call_id if isinstance(call_id, str) else None,
        type=value.get("type", "function"),
    )


def _message(value: Any, field: str) -> Message:
    if not isinstance(value, dict):
        raise RowError(
            field,
            f"message is a JSON {_json_type(value)}, not an object",
            'write {"role": "user", "content": "..."}',
        )
    role = value.get("role")
    if not isinstance(role, str):
        raise RowError(
            f"{field}.role",
            "message has no role" if role is None else f"role is a JSON {_json_type(role)}",
            'give every message a "role": system, user, assistant or tool',
        )
    content = value.get("content")
    if content is not None and not isinstance(content, str | list):
        raise RowError(
            f"{field}.content",
            f"content is a JSON {_json_type(content)}",
            "write the content as a string (or a list of content parts)",
        )
    raw_calls = value.get("tool_calls")
    calls = None
    if raw_calls is not None:
        if not isinstance(raw_calls, list):
            raise RowError(
                f"{field}.tool_calls", "tool_calls is not a list", "write tool_calls as a list"
            )
        calls = [_tool_call(call, f"{field}.tool_calls[{i}]") for i, call in enumerate(raw_calls)]
    name = value.get("name")
    call_id = value.get("tool_call_id")
    extra = None
    if not _MESSAGE_KEYS.issuperset(value):
        extra = {k: v for k, v in value.items() if k not in _MESSAGE_KEYS}
    return Message(
        role,
        content,
        name if isinstance(name, str) else None,
        value.get("weight"),
        calls,
        call_id if isinstance(call_id, str) else None,
        extra,
    )


def _messages(value: Any, field: str) -> list[Message]:
    value = _structured(value)
    if not isinstance(value, list):
        raise RowError(
            field,
            f"expected a list of messages, got a JSON {_json_type(value)}",
            'write [{"role": "user", "content": "..."}, ...]',
        )
    # The common turn, {"role": ..., "content": "..."} (maybe with a weight), is built inline:
    # this loop runs once per message of a multi-GB file, so every call and lookup counts.
    messages: list[Message] = []
    append = messages.append
    for index, item in enumerate(value):
        if item.__class__ is dict and len(item) <= 3:
            role, content = item.get("role"), item.get("content")
            if role.__class__ is str and content.__class__ is str:
                if len(item) == 2:
                    append(Message(role, content))
                    continue
                if "weight" in item:
                    append(Message(role, content, None, item["weight"]))
                    continue
        append(_message(item, f"{field}[{index}]"))
    return messages


# ---- one parser per format ----------------------------------------------------------------------

_CHAT_KEYS = frozenset({"messages", "tools", "parallel_tool_calls"})


def _openai_chat(row: dict[str, Any], source: Source | None) -> Conversation:
    return Conversation(
        messages=_messages(_require(row, "messages", "openai_chat"), "messages"),
        tools=_tools(row.get("tools"), "tools"),
        parallel_tool_calls=row.get("parallel_tool_calls"),
        meta=_meta(row, _CHAT_KEYS),
        source=source,
    )


_SHAREGPT_KEYS = frozenset({"conversations", "system", "tools"})


def _sharegpt(row: dict[str, Any], source: Source | None) -> Conversation:
    turns = _structured(_require(row, "conversations", "sharegpt"))
    if not isinstance(turns, list):
        raise RowError(
            "conversations",
            f"expected a list of turns, got a JSON {_json_type(turns)}",
            'write [{"from": "human", "value": "..."}, {"from": "gpt", "value": "..."}]',
        )
    messages: list[Message] = []
    system = row.get("system")
    if isinstance(system, str) and system:
        messages.append(Message(role="system", content=system))
    for i, turn in enumerate(turns):
        field = f"conversations[{i}]"
        if not isinstance(turn, dict):
            raise RowError(
                field,
                f"turn is a JSON {_json_type(turn)}, not an object",
                'write {"from": "human", "value": "..."}',
            )
        if "from" not in turn and "role" in turn:
            # Axolotl-style turns: role/content (or role/value) instead of from/value
            fields = {k: v for k, v in turn.items() if k != "value"}
            fields.setdefault("content", turn.get("value"))
            message = _message(fields, field)
            message.role = SHAREGPT_ROLES.get(message.role.lower(), message.role)
            messages.append(message)
            continue
        speaker = turn.get("from")
        if not isinstance(speaker, str):
            raise RowError(
                f"{field}.from",
                "turn has no speaker",
                'give every turn "from": human, gpt, system or tool',
            )
        value = turn.get("value")
        if value is not None and not isinstance(value, str):
            raise RowError(
                f"{field}.value",
                f"value is a JSON {_json_type(value)}",
                "write the turn text as a string",
            )
        weight = turn.get("weight")
        messages.append(
            Message(role=SHAREGPT_ROLES.get(speaker.lower(), speaker), content=value, weight=weight)
        )
    return Conversation(
        messages=messages,
        tools=_tools(row.get("tools"), "tools"),
        meta=_meta(row, _SHAREGPT_KEYS),
        source=source,
    )


_ALPACA_KEYS = frozenset({"instruction", "input", "output", "system"})


def _alpaca(row: dict[str, Any], source: Source | None) -> Conversation:
    instruction = _string(_require(row, "instruction", "alpaca"), "instruction")
    extra_input = row.get("input") or ""
    extra_input = _string(extra_input, "input")
    output = _string(_require(row, "output", "alpaca"), "output")
    prompt = f"{instruction}\n\n{extra_input}" if extra_input else instruction
    messages = [Message(role="user", content=prompt), Message(role="assistant", content=output)]
    system = row.get("system")
    if isinstance(system, str) and system:
        messages.insert(0, Message(role="system", content=system))
    return Conversation(messages=messages, meta=_meta(row, _ALPACA_KEYS), source=source)


_PC_KEYS = frozenset({"prompt", "completion", "tools"})


def _prompt_completion(row: dict[str, Any], source: Source | None) -> Conversation:
    prompt = _maybe_messages(_require(row, "prompt", "prompt_completion"))
    completion = _maybe_messages(_require(row, "completion", "prompt_completion"))
    meta = _meta(row, _PC_KEYS)
    if isinstance(prompt, str) and isinstance(completion, str):
        return Conversation(
            messages=[
                Message(role="user", content=prompt),
                Message(role="assistant", content=completion),
            ],
            chat=False,
            meta=meta,
            source=source,
        )
    if isinstance(prompt, str) != isinstance(completion, str):
        raise RowError(
            "completion" if isinstance(prompt, str) else "prompt",
            "prompt and completion mix plain text and message lists",
            "make both plain strings, or both lists of messages",
        )
    context = _messages(prompt, "prompt")
    for message in context:
        # conversational prompt/completion trains on the completion only: earlier assistant
        # turns in the prompt become weight-0 turns, which every writer understands
        if message.role == "assistant" and message.weight is None:
            message.weight = 0
    return Conversation(
        messages=context + _messages(completion, "completion"),
        tools=_tools(row.get("tools"), "tools"),
        meta=meta,
        source=source,
    )


_TEXT_KEYS = frozenset({"text"})


def _text(row: dict[str, Any], source: Source | None) -> Text:
    return Text(
        text=_string(_require(row, "text", "text"), "text"),
        meta=_meta(row, _TEXT_KEYS),
        source=source,
    )


_PREF_KEYS = frozenset({"prompt", "chosen", "rejected", "tools"})


def _preference(row: dict[str, Any], source: Source | None) -> Preference:
    chosen = _maybe_messages(_require(row, "chosen", "preference"))
    rejected = _maybe_messages(_require(row, "rejected", "preference"))
    prompt = _maybe_messages(row.get("prompt"))
    meta = _meta(row, _PREF_KEYS)
    tools = _tools(row.get("tools"), "tools")
    if isinstance(chosen, str) and isinstance(rejected, str):
        if prompt is None:
            prompt, chosen, rejected = _split_common_prefix(chosen, rejected)
        prompt_text = _string(prompt, "prompt")
        return Preference(
            prompt=[Message(role="user", content=prompt_text)] if prompt_text else [],
            chosen=[Message(role="assistant", content=chosen)],
            rejected=[Message(role="assistant", content=rejected)],
            tools=tools,
            chat=False,
            meta=meta,
            source=source,
        )
    if isinstance(chosen, str) or isinstance(rejected, str):
        raise RowError(
            "rejected" if isinstance(chosen, str) else "chosen",
            "chosen and rejected mix plain text and message lists",
            "make both plain strings, or both lists of messages",
        )
    chosen_messages = _messages(chosen, "chosen")
    rejected_messages = _messages(rejected, "rejected")
    if isinstance(prompt, list):
        prompt_messages = _messages(prompt, "prompt")
    else:
        # implicit prompt (or a plain-text copy of it): the shared leading turns, as TRL does
        shared = 0
        limit = min(len(chosen_messages), len(rejected_messages))
        while shared < limit and chosen_messages[shared] == rejected_messages[shared]:
            shared += 1
        if shared == limit:
            shared = max(0, limit - 1)
        prompt_messages = chosen_messages[:shared]
        chosen_messages = chosen_messages[shared:]
        rejected_messages = rejected_messages[shared:]
    return Preference(
        prompt=prompt_messages,
        chosen=chosen_messages,
        rejected=rejected_messages,
        tools=tools,
        meta=meta,
        source=source,
    )


def _split_common_prefix(chosen: str, rejected: str) -> tuple[str, str, str]:
    """TRL's implicit-prompt rule for plain strings: the shared prefix, minus a trailing space."""
    index = 0
    limit = min(len(chosen), len(rejected))
    while index < limit and chosen[index] == rejected[index]:
        index += 1
    if 0 < index < limit and chosen[index - 1] == " ":
        index -= 1
    return chosen[:index], chosen[index:], rejected[index:]


_DPO_KEYS = frozenset({"input", "preferred_output", "non_preferred_output"})


def _openai_dpo(row: dict[str, Any], source: Source | None) -> Preference:
    context = _structured(_require(row, "input", "openai_dpo"), dict)
    if not isinstance(context, dict):
        raise RowError(
            "input",
            f"expected an object, got a JSON {_json_type(context)}",
            'write "input": {"messages": [...]}',
        )
    return Preference(
        prompt=_messages(context.get("messages"), "input.messages"),
        chosen=_messages(_require(row, "preferred_output", "openai_dpo"), "preferred_output"),
        rejected=_messages(
            _require(row, "non_preferred_output", "openai_dpo"), "non_preferred_output"
        ),
        tools=_tools(context.get("tools"), "input.tools"),
        parallel_tool_calls=context.get("parallel_tool_calls"),
        meta=_meta(row, _DPO_KEYS),
        source=source,
    )


def _openai_rft(row: dict[str, Any], source: Source | None) -> Conversation:
    record = _openai_chat(row, source)
    if record.messages and record.messages[-1].role == "assistant":
        raise RowError(
            "messages",
            "the last message is an assistant answer, but this is prompt-only data (for GRPO the "
            "model writes the answer and rewards score it)",
            "drop the final assistant turn (keep a reference answer in a column such as "
            '"answer"), or move the row to an SFT file',
        )
    record.prompt_only = True
    return record


_PROMPT_KEYS = frozenset({"prompt", "tools"})


def _prompt_only(row: dict[str, Any], source: Source | None) -> Conversation:
    prompt = _maybe_messages(_require(row, "prompt", "prompt_only"))
    meta = _meta(row, _PROMPT_KEYS)
    if isinstance(prompt, str):
        return Conversation(
            messages=[Message(role="user", content=prompt)],
            chat=False,
            meta=meta,
            source=source,
            prompt_only=True,
        )
    return Conversation(
        messages=_messages(prompt, "prompt"),
        tools=_tools(row.get("tools"), "tools"),
        meta=meta,
        source=source,
        prompt_only=True,
    )


_KTO_KEYS = frozenset({"prompt", "completion", "label", "tools"})


def _kto(row: dict[str, Any], source: Source | None) -> Conversation:
    label = _require(row, "label", "kto")
    if not isinstance(label, bool):
        raise RowError(
            "label",
            f"label is a JSON {_json_type(label)}, not true/false",
            "write label: true for a desirable completion, false for an undesirable one",
        )
    pair = _prompt_completion({k: v for k, v in row.items() if k != "label"}, source)
    pair.label = label
    return pair


_PARSERS: dict[str, Callable[[dict[str, Any], Source | None], Record]] = {
    "openai_chat": _openai_chat,
    "sharegpt": _sharegpt,
    "alpaca": _alpaca,
    "prompt_completion": _prompt_completion,
    "text": _text,
    "preference": _preference,
    "openai_dpo": _openai_dpo,
    "openai_rft": _openai_rft,
    "prompt_only": _prompt_only,
    "kto": _kto,
}
