# mypy: disable-error-code="union-attr"
"""Rendering with the model's chat template and the assistant-only loss mask."""

from __future__ import annotations

import pytest

from tunesdk.data import Conversation, Dataset, Message, ToolCall
from tunesdk.data.templates import IGNORE_INDEX, hf_message, render_with_mask
from tunesdk.errors import DataError

CONVERSATION = Conversation(
    [
        Message("system", "You are a helpful assistant."),
        Message("user", "What is the capital of France?"),
        Message("assistant", "The capital of France is Paris."),
        Message("user", "Tell me a joke about cats."),
        Message("assistant", "Why did the cat sit on the computer?"),
    ]
)


def trained(rendered: dict[str, list[int]]) -> list[int]:
    return [int(label != IGNORE_INDEX) for label in rendered["labels"]]


def hf_mask(tokenizer, conversation: Conversation) -> list[int]:
    """Hugging Face's own assistant mask from {% generation %} markers: an independent oracle."""
    out = tokenizer.apply_chat_template(
        [hf_message(m) for m in conversation.messages],
        tools=conversation.tools,
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    return list(out["assistant_masks"])


def test_input_ids_are_exactly_what_apply_chat_template_gives(chatml_tokenizer):
    rendered = render_with_mask(CONVERSATION, chatml_tokenizer)
    expected = chatml_tokenizer.apply_chat_template([hf_message(m) for m in CONVERSATION.messages])
    assert rendered["input_ids"] == expected["input_ids"]
    assert rendered["attention_mask"] == [1] * len(expected["input_ids"])


def test_mask_covers_exactly_the_assistant_spans(generation_tokenizer):
    rendered = render_with_mask(CONVERSATION, generation_tokenizer)
    assert trained(rendered) == hf_mask(generation_tokenizer, CONVERSATION)
    learned = [
        t
        for t, label in zip(rendered["input_ids"], rendered["labels"], strict=True)
        if label != IGNORE_INDEX
    ]
    text = generation_tokenizer.decode(learned)
    assert text == (
        "The capital of France is Paris.<|im_end|>Why did the cat sit on the computer?<|im_end|>"
    )
    # labels equal the ids where trained
    assert all(
        label in (IGNORE_INDEX, token)
        for token, label in zip(rendered["input_ids"], rendered["labels"], strict=True)
    )


def test_weight_zero_turns_are_not_learned(generation_tokenizer):
    skipped = Conversation(
        [
            *CONVERSATION.messages[:2],
            Message("assistant", "The capital of France is Paris.", weight=0),
            *CONVERSATION.messages[3:],
        ]
    )
    mask = trained(render_with_mask(skipped, generation_tokenizer))
    full = hf_mask(generation_tokenizer, CONVERSATION)
    first_turn_end = full.index(0, full.index(1))  # end of the first assistant span
    assert mask[:first_turn_end] == [0] * first_turn_end
    assert mask[first_turn_end:] == full[first_turn_end:]


def test_tool_calls_are_part_of_the_learned_turn(generation_tokenizer):
    conversation = Conversation(
        [
            Message("user", "Weather in Paris?"),
            Message(
                "assistant",
                None,
                tool_calls=[ToolCall("get_weather", '{"city": "Paris"}', id="c1")],
            ),
            Message("tool", "sunny", tool_call_id="c1"),
            Message("assistant", "It is sunny."),
        ],
        tools=[{"type": "function", "function": {"name": "get_weather"}}],
    )
    rendered = render_with_mask(conversation, generation_tokenizer)
    assert trained(rendered) == hf_mask(generation_tokenizer, conversation)
    learned = generation_tokenizer.decode(
        [t for t, m in zip(rendered["input_ids"], trained(rendered), strict=True) if m]
    )
    assert learned == (
        '<tool_call>get_weather {"city": "Paris"}</tool_call><|im_end|>It is sunny.<|im_end|>'
    )


def test_train_on_inputs_and_truncation(chatml_tokenizer):
    everything = render_with_mask(CONVERSATION, chatml_tokenizer, train_on_inputs=True)
    assert everything["labels"] == everything["input_ids"]
    cut = render_with_mask(CONVERSATION, chatml_tokenizer, max_seq_length=10)
    assert len(cut["input_ids"]) == len(cut["labels"]) == len(cut["attention_mask"]) == 10


def test_llama2_style_template_with_bos_and_eos(llama2_tokenizer):
    conversation = Conversation(
        [Message("user", "What is the capital of France?"), Message("assistant", "Paris.")]
    )
    rendered = render_with_mask(conversation, llama2_tokenizer)
    assert rendered["input_ids"][0] == llama2_tokenizer.bos_token_id
    learned = [
        t
        for t, label in zip(rendered["input_ids"], rendered["labels"], strict=True)
        if label != IGNORE_INDEX
    ]
    assert llama2_tokenizer.decode(learned) == " Paris.</s>"


def test_plain_prompt_completion_learns_the_completion_and_eos(chatml_tokenizer):
    (record,) = Dataset.load([{"prompt": "The capital of France is", "completion": " Paris."}])
    assert isinstance(record, Conversation) and not record.chat
    rendered = render_with_mask(record, chatml_tokenizer)
    learned = [
        t
        for t, label in zip(rendered["input_ids"], rendered["labels"], strict=True)
        if label != IGNORE_INDEX
    ]
    assert learned == chatml_tokenizer(" Paris.")["input_ids"] + [chatml_tokenizer.eos_token_id]


def test_tokenizer_without_chat_template_is_a_clear_error(chatml_tokenizer):
    bare = chatml_tokenizer.__class__(tokenizer_object=chatml_tokenizer.backend_tokenizer)
    with pytest.raises(DataError, match="has no chat template"):
        render_with_mask(CONVERSATION, bare)


def test_validate_with_a_tokenizer_finds_template_failures_and_long_examples(
    llama2_tokenizer, chatml_tokenizer
):
    rows = [
        {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]},
        {
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "user", "content": "b"},
                {"role": "assistant", "content": "c"},
            ]
        },
    ]
    report = Dataset.load(rows).validate(tokenizer=llama2_tokenizer)
    assert [(p.line, p.severity) for p in report.problems] == [(2, "error")]
    assert "roles must alternate" in report.problems[0].message
    long = Dataset.load([{"messages": [hf_message(m) for m in CONVERSATION.messages]}])
    length = len(render_with_mask(CONVERSATION, chatml_tokenizer)["input_ids"])
    report = long.validate(tokenizer=chatml_tokenizer, max_seq_length=length - 5)
    assert [(p.line, p.severity) for p in report.problems] == [(1, "warning")]
    assert f"example is {length} tokens" in report.problems[0].message
    assert long.validate(tokenizer=chatml_tokenizer, max_seq_length=length).ok


def test_to_hf_with_a_tokenizer_is_pre_tokenized_with_labels(chatml_tokenizer):
    row = {"messages": [hf_message(m) for m in CONVERSATION.messages]}
    hf = Dataset.load([row]).to_hf(tokenizer=chatml_tokenizer)
    assert hf.column_names == ["input_ids", "attention_mask", "labels"]
    assert hf[0] == render_with_mask(CONVERSATION, chatml_tokenizer)


def test_stats_with_a_tokenizer_count_rendered_tokens(chatml_tokenizer):
    row = {"messages": [hf_message(m) for m in CONVERSATION.messages]}
    length = len(render_with_mask(CONVERSATION, chatml_tokenizer)["input_ids"])
    stats = Dataset.load([row, row]).stats(
        tokenizer=chatml_tokenizer, max_seq_length=length - 1, epochs=3
    )
    assert stats.total_tokens == 2 * length
    assert stats.truncated == 2
    assert stats.billable_tokens == 2 * (length - 1) * 3
    assert "tokenizer" in stats.token_counter
