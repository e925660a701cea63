"""Rendering records with a model's own chat template, and the loss mask local trainers need.

``render_with_mask`` finds each assistant turn's tokens without any cooperation from the
template (no ``{% generation %}`` markers needed): it renders the conversation up to the turn
(with the generation prompt) and through the turn, and the characters between those two
renderings, inside the full rendering, are the turn. One tokenization of the full text with
character offsets then maps those spans to tokens. This is the same text the tokenizer's
``apply_chat_template(tokenize=True)`` produces, so ``input_ids`` match it exactly.
"""

from __future__ import annotations

from typing import Any

from tunesdk.data.records import Conversation, Message, Preference, Record, Text
from tunesdk.errors import DataError

IGNORE_INDEX = -100


def hf_message(message: Message) -> dict[str, Any]:
    """A message in the shape Hugging Face chat templates (and TRL) expect.

    Tool-call arguments become dicts, as the templates serialize them themselves.
    """
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.name is not None:
        out["name"] = message.name
    if message.tool_calls is not None:
        out["tool_calls"] = [
            {
                **({"id": call.id} if call.id is not None else {}),
                "type": call.type,
                "function": {"name": call.name, "arguments": call.parsed_arguments()},
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


def _require_template(tokenizer: Any) -> None:
    if not getattr(tokenizer, "chat_template", None):
        name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
        raise DataError(
            f"tokenizer {name!r} has no chat template, so chat data cannot be rendered",
            fix="use the tokenizer of an instruct/chat model, set tokenizer.chat_template to a "
            "Jinja template, or give the data as plain text or prompt/completion strings",
        )


def render_text(
    tokenizer: Any,
    messages: list[dict[str, Any]],
    tools: list[Any] | None = None,
    *,
    add_generation_prompt: bool = False,
) -> str:
    """The chat template's text for ``messages``; template errors become ``TemplateFailure``."""
    from tunesdk.data.tokens import TemplateFailure

    _require_template(tokenizer)
    if not messages:
        return ""
    try:
        text = tokenizer.apply_chat_template(
            messages,
            tools=tools or None,
            tokenize=False,
            add_generation_prompt=add_generation_prompt,
        )
    except Exception as exc:  # jinja2 raises TemplateError and friends; keep one type
        raise TemplateFailure(f"chat template failed: {exc}") from exc
    return str(text)


def _common_prefix(a: str, b: str) -> int:
    if b.startswith(a):
        return len(a)
    index = 0
    for index, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return index
    return min(len(a), len(b))


def _assistant_spans(
    tokenizer: Any, conversation: Conversation, messages: list[dict[str, Any]], full: str
) -> list[tuple[int, int]]:
    """Character spans of the trained assistant turns inside ``full``."""
    spans = []
    for index, message in enumerate(conversation.messages):
        if not message.trained:
            continue
        before = render_text(
            tokenizer, messages[:index], conversation.tools, add_generation_prompt=True
        )
        through = render_text(tokenizer, messages[: index + 1], conversation.tools)
        start = _common_prefix(before, full)
        end = _common_prefix(through, full)
        # whitespace after the end-of-turn token belongs to the template, not to the reply
        while end > start and full[end - 1].isspace():
            end -= 1
        if end > start:
            spans.append((start, end))
    return spans


def render_with_mask(
    conversation: Conversation,
    tokenizer: Any,
    max_seq_length: int | None = None,
    train_on_inputs: bool = False,
) -> dict[str, list[int]]:
    """Tokenize one conversation for SFT: ``input_ids``, ``attention_mask`` and ``labels``.

    Labels are -100 everywhere except the assistant turns (turns with ``weight`` 0 excluded),
    unless ``train_on_inputs``. Plain prompt/completion pairs (``chat=False``) are not templated:
    prompt text, then completion text and EOS, and only the completion is learned.
    Sequences longer than ``max_seq_length`` are cut at the right.
    """
    if not conversation.chat:
        ids, labels = _render_plain(conversation, tokenizer)
    else:
        messages = [hf_message(m) for m in conversation.messages]
        full = render_text(tokenizer, messages, conversation.tools)
        try:
            encoded = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
        except NotImplementedError as exc:
            raise DataError(
                "finding assistant tokens needs a fast tokenizer (character offsets)",
                fix="load the tokenizer with AutoTokenizer.from_pretrained(..., use_fast=True)",
            ) from exc
        ids = list(encoded["input_ids"])
        if train_on_inputs:
            labels = list(ids)
        else:
            spans = _assistant_spans(tokenizer, conversation, messages, full)
            labels = [IGNORE_INDEX] * len(ids)
            for position, (start, _end) in enumerate(encoded["offset_mapping"]):
                if any(lo <= start < hi for lo, hi in spans):
                    labels[position] = ids[position]
    if max_seq_length is not None:
        ids, labels = ids[:max_seq_length], labels[:max_seq_length]
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}


def _render_plain(conversation: Conversation, tokenizer: Any) -> tuple[list[int], list[int]]:
    prompt, completion = conversation.messages[0].text, conversation.messages[-1].text
    prompt_ids = list(tokenizer(prompt, add_special_tokens=True)["input_ids"])
    completion_ids = list(tokenizer(completion, add_special_tokens=False)["input_ids"])
    if tokenizer.eos_token_id is not None:
        completion_ids.append(tokenizer.eos_token_id)
    return prompt_ids + completion_ids, [IGNORE_INDEX] * len(prompt_ids) + completion_ids


def tokenize_record(
    record: Record,
    tokenizer: Any,
    max_seq_length: int | None = None,
    train_on_inputs: bool = False,
) -> dict[str, list[int]]:
    """``render_with_mask`` for conversations; plain text is learned whole (EOS appended)."""
    if isinstance(record, Conversation):
        return render_with_mask(record, tokenizer, max_seq_length, train_on_inputs)
    if isinstance(record, Text):
        ids = list(tokenizer(record.text, add_special_tokens=True)["input_ids"])
        if tokenizer.eos_token_id is not None:
            ids.append(tokenizer.eos_token_id)
        ids = ids[:max_seq_length] if max_seq_length is not None else ids
        return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": list(ids)}
    raise DataError(
        "preference pairs are tokenized by the DPO trainer, not here",
        fix="call to_hf() without a tokenizer for preference data",
    )


def render_ids(tokenizer: Any, record: Record, side: str | None = None) -> list[int]:
    """Token ids of a record as a trainer sees it (for a preference pair: prompt + ``side``)."""
    if isinstance(record, Preference):
        side_messages: list[Message] = getattr(record, side or "chosen")
        if not record.chat:
            prompt = record.prompt[0].text if record.prompt else ""
            text = prompt + "".join(m.text for m in side_messages)
            return list(tokenizer(text, add_special_tokens=True)["input_ids"])
        conversation = Conversation(record.prompt + side_messages, tools=record.tools)
        record = conversation
    if isinstance(record, Conversation) and record.chat:
        messages = [hf_message(m) for m in record.messages]
        text = render_text(tokenizer, messages, record.tools)
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])
    return tokenize_record(record, tokenizer)["input_ids"]
