"""What each backend accepts, and the per-record checks that enforce it.

Provider limits come from their documentation (see docs/data.md for the sources):
OpenAI needs at least 10 examples, roles system/user/assistant/tool and ``weight`` 0 or 1 on
assistant turns only; Together needs one example, a conversation that starts with system or
user and then alternates user/assistant, and DPO outputs of exactly one assistant message (it
takes ``weight`` on any turn); Fireworks needs 3 examples, and a system message only as the
first turn (its docs allow ``weight`` 0/1 on messages without restricting the role).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from tunesdk.data.records import ROLES, Conversation, Message, Preference, Record, Text
from tunesdk.data.report import Severity
from tunesdk.errors import DataError

#: (field, message, fix, severity) — turned into a Problem with the record's file and line
Finding = tuple[str | None, str, str | None, Severity]


@dataclass(frozen=True, slots=True)
class BackendRules:
    """The data rules of one backend (or the generic rules when ``name`` is None)."""

    name: str | None
    min_examples: int = 1
    roles: frozenset[str] = frozenset(ROLES)
    kinds: frozenset[str] = frozenset({"sft", "dpo", "text", "prompt", "kto"})
    #: user/assistant must alternate (no two adjacent turns with one role)
    alternate: bool = False
    #: a system message may only be the first message
    system_first: bool = False
    #: the first non-system message must be a user turn
    user_first: bool = False
    #: ``weight`` is only allowed on assistant turns
    weight_assistant_only: bool = False
    #: DPO outputs must be exactly one assistant message (single-turn preference)
    single_turn_preference: bool = False
    #: plain prompt/completion pairs are sent as chat turns (the provider only trains chat)
    chat_only: bool = False
    #: both halves of an ``eval_split`` are checked against ``min_examples`` with the data
    #: (False where the backend checks its split itself)
    split_min_examples: bool = True
    docs: str | None = None


_PROVIDER_ROLES = frozenset({"system", "user", "assistant", "tool"})

RULES: dict[str | None, BackendRules] = {
    None: BackendRules(None),
    "openai": BackendRules(
        "openai",
        min_examples=10,
        roles=_PROVIDER_ROLES,
        # prompt: reinforcement fine-tuning (objective grpo with graders)
        kinds=frozenset({"sft", "dpo", "prompt"}),
        weight_assistant_only=True,
        single_turn_preference=True,
        chat_only=True,
        docs="https://platform.openai.com/docs/guides/supervised-fine-tuning",
    ),
    "together": BackendRules(
        "together",
        min_examples=1,
        roles=_PROVIDER_ROLES,
        kinds=frozenset({"sft", "dpo", "text"}),
        alternate=True,
        system_first=True,
        user_first=True,
        single_turn_preference=True,
        docs="https://docs.together.ai/docs/fine-tuning-data-preparation",
    ),
    "fireworks": BackendRules(
        "fireworks",
        min_examples=3,
        roles=_PROVIDER_ROLES,
        # prompt: reinforcement fine-tuning jobs (objective grpo with graders)
        kinds=frozenset({"sft", "dpo", "prompt"}),
        system_first=True,
        single_turn_preference=True,
        chat_only=True,
        # tunesdk-fireworks checks its split: only SFT jobs upload the eval half
        split_min_examples=False,
        docs="https://docs.fireworks.ai/fine-tuning/fine-tuning-models",
    ),
    "trl": BackendRules("trl"),
    "unsloth": BackendRules("unsloth"),
    "axolotl": BackendRules("axolotl"),
}
BACKENDS = tuple(name for name in RULES if name is not None)


def rules_for(backend: str | None) -> BackendRules:
    """The rules of a backend named by string (None for the generic rules)."""
    try:
        return RULES[backend]
    except KeyError:
        raise DataError(
            f"unknown backend {backend!r} for data validation",
            fix=f"use one of {', '.join(BACKENDS)}, or None for the generic rules",
        ) from None


def check_record(record: Record, rules: BackendRules) -> list[Finding]:
    """Every problem with one record under ``rules`` (empty list when it is fine)."""
    if isinstance(record, Conversation):
        if record.prompt_only:
            return _check_prompt(record)
        if _plainly_fine(record, rules):
            return []
        return list(_check_conversation(record, rules))
    if isinstance(record, Preference):
        return list(_check_preference(record, rules))
    if not record.text.strip():
        return [("text", "text is empty", "remove the example or give it text", "error")]
    return []


def _check_prompt(conv: Conversation) -> list[Finding]:
    """A prompt-only example (GRPO): some prompt text, no answer at its end."""
    if not any(m.text.strip() for m in conv.messages):
        return [("prompt", "prompt is empty", "give every row the prompt to answer", "error")]
    return []


# ---- conversations ------------------------------------------------------------------------------


def _plainly_fine(conv: Conversation, rules: BackendRules) -> bool:
    """A quick scan that clears the common clean conversation, tool calls included.

    Anything it does not clear goes through the full checks, which explain what is wrong.
    """
    messages = conv.messages
    if rules.alternate or rules.system_first or rules.user_first or not messages:
        return False
    roles = rules.roles
    trained = False
    pending: set[str | None] = set()  # ids of tool calls still waiting for their result
    names: set[str] | None = None
    for message in messages:
        role, content, weight = message.role, message.content, message.weight
        if role not in roles:
            return False
        if role == "tool":
            if message.tool_call_id not in pending or weight is not None:
                return False
            pending.discard(message.tool_call_id)
            continue
        if pending:
            return False
        calls = message.tool_calls
        if calls is not None:
            if role != "assistant" or conv.tools is None or not calls:
                return False
            if names is None:
                names = _tool_names(conv.tools) or set()
            for call in calls:
                if call.id is None or call.name not in names:
                    return False
                pending.add(call.id)
        elif content.__class__ is not str or not content or content.isspace():
            return False
        if weight is not None and (
            role != "assistant" or weight.__class__ is not int or weight not in (0, 1)
        ):
            return False
        if role == "assistant" and weight != 0:
            trained = True
    last = messages[-1].role
    return trained and (last == "assistant" or (last == "tool" and not pending))


def _check_conversation(conv: Conversation, rules: BackendRules) -> Iterator[Finding]:
    messages = conv.messages
    if not messages:
        yield ("messages", "conversation has no messages", "remove the example", "error")
        return
    yield from _check_turns(messages, "messages", rules)
    yield from _check_order(messages, "messages", rules)
    if conv.tools is not None or any(m.tool_calls or m.role == "tool" for m in messages):
        yield from _check_tool_calls(conv, rules)
    if not any(message.trained for message in messages):
        if any(message.role == "assistant" for message in messages):
            yield (
                "messages",
                "every assistant turn has weight 0: nothing to learn from",
                "set weight 1 on at least one assistant turn",
                "error",
            )
        else:
            yield (
                "messages",
                "no assistant turn to learn from",
                "add the assistant reply this example should teach",
                "error",
            )
    elif messages[-1].role not in ("assistant", "tool") and not messages[-1].trained:
        yield (
            f"messages[{len(messages) - 1}]",
            f"conversation ends with a {messages[-1].role} turn, which is never learned from",
            "end each example with the assistant reply (or drop the trailing turns)",
            "warning",
        )


def _check_turns(messages: list[Message], field: str, rules: BackendRules) -> Iterator[Finding]:
    """Roles, empty content and weights of each message."""
    for index, message in enumerate(messages):
        role = message.role
        where = f"{field}[{index}]"
        if role not in rules.roles:
            target = f"{rules.name} accepts" if rules.name else "use"
            yield (
                f"{where}.role",
                f"unknown role {role!r}",
                f"{target} one of {', '.join(sorted(rules.roles))}",
                "error",
            )
        content = message.content
        if (
            content is None
            or (isinstance(content, str) and not content.strip())
            or (isinstance(content, list) and not content)
        ) and not message.tool_calls:
            severity: Severity = "error" if role in ("user", "assistant") else "warning"
            yield (
                f"{where}.content",
                f"{role} turn has empty content",
                "write the turn's text, or remove the turn",
                severity,
            )
        weight = message.weight
        if weight is not None:
            if weight.__class__ is not int or weight not in (0, 1):
                yield (
                    f"{where}.weight",
                    f"weight must be 0 or 1, got {weight!r}",
                    "use 1 to train on the turn, 0 to skip it",
                    "error",
                )
            elif role != "assistant" and rules.weight_assistant_only:
                yield (
                    f"{where}.weight",
                    f"{rules.name} accepts weight only on assistant turns, not on {role} turns",
                    "remove the weight (only assistant turns are trained on)",
                    "error",
                )


def _check_order(messages: list[Message], field: str, rules: BackendRules) -> Iterator[Finding]:
    """Turn order rules of backends that have them (system first, user first, alternation)."""
    if not (rules.system_first or rules.alternate or rules.user_first):
        return
    backend = rules.name
    first_chat = 0
    for index, message in enumerate(messages):
        if message.role == "system" and index > 0 and rules.system_first:
            yield (
                f"{field}[{index}].role",
                f"{backend} allows a system message only first",
                "move the system message to the start, or merge it into a user turn",
                "error",
            )
        if message.role == "system" and index == first_chat:
            first_chat += 1
    if rules.user_first and first_chat < len(messages) and messages[first_chat].role != "user":
        yield (
            f"{field}[{first_chat}].role",
            f"{backend} needs the first turn after the system prompt to be user, "
            f"got {messages[first_chat].role}",
            "start the conversation with the user's message",
            "error",
        )
    if rules.alternate:
        for index in range(first_chat + 1, len(messages)):
            role = messages[index].role
            if role in ("user", "assistant") and messages[index - 1].role == role:
                yield (
                    f"{field}[{index}].role",
                    f"two {role} turns in a row; {backend} needs user and assistant to alternate",
                    f"merge the consecutive {role} turns into one",
                    "error",
                )


def _check_tool_calls(conv: Conversation, rules: BackendRules) -> Iterator[Finding]:
    """Every tool call needs a tool result before the conversation moves on, and vice versa.

    Calls in the last assistant turn may stay unanswered: such an example teaches the model to
    emit the call. Calls are matched by id when they have ids, by count otherwise.
    """
    messages = conv.messages
    pending: dict[str, str] = {}  # call id -> field of the call
    anonymous: list[str] = []  # fields of calls without ids
    has_calls = False
    tool_names = _tool_names(conv.tools)
    for index, message in enumerate(messages):
        role = message.role
        if role == "tool":
            call_id = message.tool_call_id
            if call_id is not None and call_id in pending:
                del pending[call_id]
            elif call_id is None and anonymous:
                anonymous.pop(0)
            elif call_id is None and len(pending) == 1:
                pending.clear()
            else:
                what = f"call id {call_id!r}" if call_id else "a call"
                yield (
                    f"messages[{index}].tool_call_id",
                    f"tool result for {what} that no earlier assistant turn made",
                    "set tool_call_id to the id of the assistant's tool call",
                    "error",
                )
            continue
        yield from _unanswered(pending, anonymous)
        pending, anonymous = {}, []
        for number, call in enumerate(message.tool_calls or ()):
            has_calls = True
            field = f"messages[{index}].tool_calls[{number}]"
            if call.id is not None:
                pending[call.id] = field
            else:
                anonymous.append(field)
            if tool_names is not None and call.name not in tool_names:
                yield (
                    f"{field}.function.name",
                    f"call to {call.name!r}, which is not in this example's tools",
                    "add the function to tools, or fix the name",
                    "warning",
                )
    last_assistant = max((i for i, m in enumerate(messages) if m.role == "assistant"), default=-1)
    answered_at_end = any(m.role == "tool" for m in messages[last_assistant + 1 :])
    if answered_at_end:
        yield from _unanswered(pending, anonymous)
    if has_calls and conv.tools is None:
        yield (
            "tools",
            "tool calls but no tools list: the model never sees the functions' schema",
            'add "tools": [{"type": "function", "function": {...}}]',
            "warning",
        )


def _unanswered(pending: dict[str, str], anonymous: list[str]) -> Iterator[Finding]:
    for field in [*pending.values(), *anonymous]:
        yield (
            field,
            "tool call has no tool result before the next turn",
            'add a {"role": "tool", "tool_call_id": ..., "content": ...} turn after it',
            "error",
        )


def _tool_names(tools: list[object] | None) -> set[str] | None:
    if tools is None:
        return None
    names = set()
    for tool in tools:
        if isinstance(tool, dict):
            function = tool.get("function", tool)
            if isinstance(function, dict) and isinstance(function.get("name"), str):
                names.add(function["name"])
    return names


# ---- preference pairs ---------------------------------------------------------------------------


def _check_preference(pair: Preference, rules: BackendRules) -> Iterator[Finding]:
    yield from _check_turns(pair.prompt, "prompt", rules)
    if not pair.prompt and (pair.chat or rules.chat_only):
        yield (
            "prompt",
            "preference pair has no prompt",
            "give the prompt the two responses answer",
            "error" if rules.name else "warning",
        )
    elif pair.prompt and pair.prompt[-1].role not in ("user", "tool"):
        yield (
            f"prompt[{len(pair.prompt) - 1}].role",
            f"prompt ends with a {pair.prompt[-1].role} turn; responses should answer a user",
            "end the prompt with the user's message",
            "warning",
        )
    for name in ("chosen", "rejected"):
        side: list[Message] = getattr(pair, name)
        if not side or all(not m.text.strip() and not m.tool_calls for m in side):
            yield (name, f"{name} response is empty", f"write the {name} response", "error")
            continue
        yield from _check_turns(side, name, rules)
        if rules.single_turn_preference and (len(side) != 1 or side[0].role != "assistant"):
            yield (
                name,
                f"{rules.name} needs {name} to be exactly one assistant message",
                "put earlier turns in the prompt and keep one assistant reply here",
                "error",
            )
    if pair.chosen == pair.rejected and pair.chosen:
        yield (
            "rejected",
            "chosen and rejected are identical: nothing to prefer",
            "make the rejected response differ from the chosen one, or drop the pair",
            "error",
        )


def kind_of(record: Record) -> str:
    """The kind of data a record is: sft, dpo, text, prompt (prompt-only, GRPO) or kto."""
    if isinstance(record, Preference):
        return "dpo"
    if isinstance(record, Text):
        return "text"
    if record.prompt_only:
        return "prompt"
    if record.label is not None:
        return "kto"
    return "sft"
