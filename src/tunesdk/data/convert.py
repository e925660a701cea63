"""Writing records in each backend's native JSONL shape.

One function per target turns a canonical record into the dict that target reads:
- ``openai``: chat ``messages`` (+ ``tools``), DPO ``input`` / ``preferred_output`` /
  ``non_preferred_output``; tool-call arguments stay JSON text.
- ``together``: conversational, instruction (prompt/completion), generic text, preference
  (the OpenAI DPO shape).
- ``fireworks``: OpenAI-compatible chat and DPO shapes.
- ``trl`` (and ``unsloth``): TRL's dataset types — conversational language modeling
  (``messages``), prompt/completion, ``text``, preference; tool-call arguments as dicts.
- ``axolotl``: ``chat_template`` datasets (per-turn ``training`` flag from ``weight``),
  ``input_output`` segments for plain pairs, ``completion`` text, ``chat_template.default`` DPO.
- ``jsonl``: tunesdk's canonical shape, lossless and re-loadable (keeps unmodelled fields too).

Prompt-only data (GRPO / reinforcement fine-tuning) and KTO's labelled completions:
- ``openai`` and ``fireworks``: the RFT shape, ``messages`` ending on the prompt's last turn
  (a plain prompt becomes one user turn) plus the reference columns (``answer``, ...) the graders
  read; no KTO (neither provider trains it).
- ``trl`` / ``unsloth``: ``prompt`` (text, or messages for chat prompts) plus the reference
  columns, which TRL hands to reward functions; KTO as ``prompt`` / ``completion`` / ``label``
  (text, or the prompt's messages and the final message as the completion).
- ``axolotl``: KTO as its user-defined KTO type (``prompt`` / ``completion`` / ``label`` text, an
  optional ``system``; one user turn and one answer); no prompt-only data (tunesdk runs no GRPO
  on Axolotl).
- ``together`` takes neither (it has no RL).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tunesdk.data.records import Conversation, Message, Preference, Record
from tunesdk.data.templates import hf_message
from tunesdk.errors import DataError

OUTPUT_FORMATS = ("openai", "together", "fireworks", "trl", "unsloth", "axolotl", "jsonl")

#: which record kinds each output format can carry (prompt: prompt-only RL data; kto: labelled)
SUPPORTED_KINDS = {
    "openai": ("sft", "dpo", "prompt"),
    "fireworks": ("sft", "dpo", "prompt"),
    "together": ("sft", "dpo", "text"),
    "trl": ("sft", "dpo", "text", "prompt", "kto"),
    "unsloth": ("sft", "dpo", "text", "prompt", "kto"),
    "axolotl": ("sft", "dpo", "text", "kto"),
    "jsonl": ("sft", "dpo", "text", "prompt", "kto"),
}
_KIND_NAMES = {
    "prompt": "prompt-only (reinforcement fine-tuning)",
    "kto": "KTO (labelled completions)",
}


def check_output_format(fmt: str, kind: str) -> None:
    """Raise DataError when ``fmt`` is unknown or cannot carry ``kind`` data."""
    if fmt not in SUPPORTED_KINDS:
        raise DataError(
            f"unknown output format {fmt!r}",
            fix=f"use one of {', '.join(OUTPUT_FORMATS)}",
        )
    if kind not in SUPPORTED_KINDS[fmt]:
        takers = [name for name, kinds in SUPPORTED_KINDS.items() if kind in kinds]
        fix = f"write it as {', '.join(takers)}"
        if kind == "text":
            fix = "convert plain text to conversations first, or " + fix
        raise DataError(
            f"{fmt} fine-tuning does not take {_KIND_NAMES.get(kind, kind)} data",
            fix=fix,
        )


# ---- message shapes -----------------------------------------------------------------------------


def openai_message(message: Message) -> dict[str, Any]:
    """A message in OpenAI's chat shape (tool-call arguments as JSON text)."""
    content = message.content
    out: dict[str, Any] = {"role": message.role}
    if content is not None:
        out["content"] = content
    if message.name is not None:
        out["name"] = message.name
    if message.tool_calls is not None:
        out["tool_calls"] = [
            {
                **({"id": call.id} if call.id is not None else {}),
                "type": call.type,
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in message.tool_calls
        ]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    if message.weight is not None:
        out["weight"] = message.weight
    if message.extra:
        out.update(message.extra)
    return out


def _axolotl_message(message: Message) -> dict[str, Any]:
    out = hf_message(message)
    weight = out.pop("weight", None)
    if weight is not None:
        out["training"] = bool(weight)
    return out


def _tools(out: dict[str, Any], record: Conversation | Preference) -> dict[str, Any]:
    if record.tools is not None:
        out["tools"] = record.tools
    return out


# ---- per-target record shapes -------------------------------------------------------------------


def _openai_dpo(pair: Preference, *, keep_parallel: bool = True) -> dict[str, Any]:
    context: dict[str, Any] = {"messages": [openai_message(m) for m in pair.prompt]}
    _tools(context, pair)
    if keep_parallel and pair.parallel_tool_calls is not None:
        context["parallel_tool_calls"] = pair.parallel_tool_calls
    return {
        "input": context,
        "preferred_output": [openai_message(m) for m in pair.chosen],
        "non_preferred_output": [openai_message(m) for m in pair.rejected],
    }


def _openai_chat(conv: Conversation) -> dict[str, Any]:
    out = _tools({"messages": [openai_message(m) for m in conv.messages]}, conv)
    if conv.parallel_tool_calls is not None:
        out["parallel_tool_calls"] = conv.parallel_tool_calls
    return out


def _plain_pair(conv: Conversation) -> tuple[str, str]:
    return conv.messages[0].text, conv.messages[-1].text


def _rft_prompt(conv: Conversation) -> dict[str, Any]:
    """OpenAI's RFT row (Fireworks reads the same): the prompt's messages + reference columns."""
    out = _tools({"messages": [openai_message(m) for m in conv.messages]}, conv)
    return {**conv.meta, **out}


def _trl_prompt(conv: Conversation) -> dict[str, Any]:
    """TRL's prompt-only row: ``prompt`` as text or messages, + the reference columns."""
    if not conv.chat:
        return {**conv.meta, "prompt": conv.messages[0].text}
    return {**conv.meta, **_tools({"prompt": [hf_message(m) for m in conv.messages]}, conv)}


def _kto_parts(conv: Conversation) -> tuple[list[Message], Message]:
    """(the prompt's messages, the completion): the final message is what the label judges."""
    *context, completion = conv.messages
    return context, completion


def _kto_row(
    conv: Conversation, message: Callable[[Message], dict[str, Any]] = hf_message
) -> dict[str, Any]:
    """The unpaired preference row, ``prompt`` / ``completion`` / ``label``: strings for plain
    pairs, else the prompt's messages and ``[final message]`` in ``message``'s shape (TRL's by
    default)."""
    context, completion = _kto_parts(conv)
    if not conv.chat:
        return {"prompt": context[0].text, "completion": completion.text, "label": conv.label}
    return _tools(
        {
            "prompt": [message(m) for m in context],
            "completion": [message(completion)],
            "label": conv.label,
        },
        conv,
    )


#: the dataset ``type`` of Axolotl 0.19's user-defined KTO loader for `axolotl_kto_row` files
AXOLOTL_KTO_TYPE = {
    "field_system": "system",
    "field_prompt": "prompt",
    "field_completion": "completion",
    "field_label": "label",
    "prompt_format": "{prompt}",
}


def axolotl_kto_row(record: Record) -> dict[str, Any]:
    """Axolotl's user-defined KTO row: one prompt text, one completion text, the label, and the
    system message (if any) apart. DataError for other shapes (multi-turn KTO trains on trl)."""
    label = getattr(record, "label", None)
    messages = list(getattr(record, "messages", None) or [])
    system = [m.text for m in messages if m.role == "system"]
    turns = [m for m in messages if m.role != "system"]
    if label is None or len(turns) != 2 or [m.role for m in turns] != ["user", "assistant"]:
        raise DataError(
            "Axolotl's KTO data is one prompt and one completion with a label",
            where=str(record.source) if record.source else None,
            fix='give rows like {"prompt": "...", "completion": "...", "label": true}; '
            "multi-turn KTO examples train on the trl backend",
        )
    row: dict[str, Any] = {"prompt": turns[0].text, "completion": turns[1].text, "label": label}
    if system:
        row["system"] = "\n".join(system)
    return row


def _unsupported(record: Conversation, target: str) -> DataError:
    kind = "prompt" if record.prompt_only else "kto"
    takers = [name for name, kinds in SUPPORTED_KINDS.items() if kind in kinds]
    return DataError(
        f"{target} fine-tuning does not take {_KIND_NAMES[kind]} data",
        where=str(record.source) if record.source else None,
        fix=f"write it as {', '.join(takers)}",
    )


def to_openai(record: Record) -> dict[str, Any]:
    if isinstance(record, Conversation):
        if record.prompt_only:
            return _rft_prompt(record)
        if record.label is not None:
            raise _unsupported(record, "openai")
        return _openai_chat(record)
    if isinstance(record, Preference):
        return _openai_dpo(record)
    raise _no_text("openai")


def to_fireworks(record: Record) -> dict[str, Any]:
    if isinstance(record, Conversation):
        if record.prompt_only:
            return _rft_prompt(record)
        if record.label is not None:
            raise _unsupported(record, "fireworks")
        return _tools({"messages": [openai_message(m) for m in record.messages]}, record)
    if isinstance(record, Preference):
        return _openai_dpo(record, keep_parallel=False)
    raise _no_text("fireworks")


def to_together(record: Record) -> dict[str, Any]:
    if isinstance(record, Conversation):
        if record.prompt_only or record.label is not None:
            raise _unsupported(record, "together")
        if not record.chat:
            prompt, completion = _plain_pair(record)
            return {"prompt": prompt, "completion": completion}
        messages = [openai_message(m) for m in record.messages]
        if any(m.weight is not None for m in record.messages):
            # Together trains on every message once any has a weight (train_on_inputs turns
            # on): pin the untrained turns to 0 so only what tunesdk trains is learned
            for message, out in zip(record.messages, messages, strict=True):
                if message.weight is None and not message.trained:
                    out["weight"] = 0
        return _tools({"messages": messages}, record)
    if isinstance(record, Preference):
        return _openai_dpo(record, keep_parallel=False)
    return {"text": record.text}


def to_trl(record: Record) -> dict[str, Any]:
    if isinstance(record, Conversation):
        if record.prompt_only:
            return _trl_prompt(record)
        if record.label is not None:
            return _kto_row(record)
        if not record.chat:
            prompt, completion = _plain_pair(record)
            return {"prompt": prompt, "completion": completion}
        return _tools({"messages": [hf_message(m) for m in record.messages]}, record)
    if isinstance(record, Preference):
        if not record.chat:
            return {
                "prompt": record.prompt[0].text if record.prompt else "",
                "chosen": "".join(m.text for m in record.chosen),
                "rejected": "".join(m.text for m in record.rejected),
            }
        return _tools(
            {
                "prompt": [hf_message(m) for m in record.prompt],
                "chosen": [hf_message(m) for m in record.chosen],
                "rejected": [hf_message(m) for m in record.rejected],
            },
            record,
        )
    return {"text": record.text}


def to_axolotl(record: Record) -> dict[str, Any]:
    if isinstance(record, Conversation):
        if record.prompt_only:
            raise _unsupported(record, "axolotl")
        if record.label is not None:
            return axolotl_kto_row(record)
        if not record.chat:
            prompt, completion = _plain_pair(record)
            return {
                "segments": [{"label": False, "text": prompt}, {"label": True, "text": completion}]
            }
        return _tools({"messages": [_axolotl_message(m) for m in record.messages]}, record)
    if isinstance(record, Preference):

        def reply(side: list[Message]) -> dict[str, Any]:
            return {"role": "assistant", "content": "".join(m.text for m in side)}

        return {
            "messages": [hf_message(m) for m in record.prompt],
            "chosen": reply(record.chosen),
            "rejected": reply(record.rejected),
        }
    return {"text": record.text}


def to_canonical(record: Record) -> dict[str, Any]:
    """tunesdk's lossless JSONL shape; loading it back gives equal records."""
    out: dict[str, Any]
    if isinstance(record, Conversation) and (record.prompt_only or record.label is not None):
        out = _canonical_rl(record)
    elif isinstance(record, Conversation):
        if record.chat:
            out = _openai_chat(record)
        else:
            prompt, completion = _plain_pair(record)
            out = {"prompt": prompt, "completion": completion}
    elif isinstance(record, Preference):
        if record.chat:
            out = _openai_dpo(record)
        else:
            out = to_trl(record)
            _tools(out, record)
    else:
        out = {"text": record.text}
    if record.meta:
        out.update(record.meta)
    return out


def _canonical_rl(conv: Conversation) -> dict[str, Any]:
    """A prompt-only or KTO record as TRL's columns with OpenAI-shaped messages: the shape that
    reads back as the same record (a bare chat prompt in ``messages`` would read as SFT)."""
    if conv.prompt_only:
        prompt: Any = (
            [openai_message(m) for m in conv.messages] if conv.chat else conv.messages[0].text
        )
        return _tools({"prompt": prompt}, conv)
    return _kto_row(conv, openai_message)


def _no_text(target: str) -> DataError:
    return DataError(
        f"{target} fine-tuning does not take plain text",
        fix="give conversations or preference pairs",
    )


WRITERS: dict[str, Callable[[Record], dict[str, Any]]] = {
    "openai": to_openai,
    "together": to_together,
    "fireworks": to_fireworks,
    "trl": to_trl,
    "unsloth": to_trl,
    "axolotl": to_axolotl,
    "jsonl": to_canonical,
}


def write_jsonl(records: Iterable[Record], fmt: str, path: str | Path) -> int:
    """Write ``records`` as ``fmt`` JSONL, atomically (a temp file renamed into place).

    Returns the number of lines written. On any error the target is left untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    convert = WRITERS[fmt]
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    count = 0
    try:
        with temp.open("wb", buffering=1 << 20) as out:
            write = out.write
            for record in records:
                try:
                    write(dumps(convert(record)).encode())
                except UnicodeEncodeError as exc:
                    raise DataError(
                        f"text holds {exc.object[exc.start : exc.end]!r}, an unpaired UTF-16 "
                        "surrogate that is not valid Unicode",
                        where=str(record.source) if record.source else None,
                        fix="repair the text (it was probably cut in the middle of an emoji)",
                    ) from None
                write(b"\n")
                count += 1
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return count


def axolotl_dataset_entry(data: Any, path: str | Path) -> dict[str, Any]:
    """The ``datasets:`` entry of an Axolotl config that reads what ``data.to("axolotl", path)``
    wrote (``data`` is a ``Dataset``; its first record tells chat from plain pairs)."""
    entry: dict[str, Any] = {"path": str(path), "ds_type": "json", "split": "train"}
    first = data.head(1)
    if data.kind == "kto":
        return {"path": str(path), "split": "train", "type": dict(AXOLOTL_KTO_TYPE)}
    if data.kind == "dpo":
        del entry["ds_type"]  # Axolotl's DPO dataset schema has no ds_type (json is inferred)
        entry.update(
            type="chat_template.default",
            field_messages="messages",
            field_chosen="chosen",
            field_rejected="rejected",
        )
    elif data.kind == "text":
        entry.update(type="completion", field="text")
    elif first and not first[0].chat:
        entry.update(type="input_output")
    else:
        entry.update(
            type="chat_template",
            field_messages="messages",
            roles_to_train=["assistant"],
            train_on_eos="turn",
            message_field_training="training",
        )
    return entry
