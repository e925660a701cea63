"""Shared fixtures: files written on the spot and a tiny tokenizer trained on the spot (no hub)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SPECIALS = ["<pad>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]

# ChatML, as Qwen and many others use it; tool calls rendered inline
CHATML = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] %}{{ message['content'] }}{% endif %}"
    "{% for call in message.get('tool_calls') or [] %}"
    "<tool_call>{{ call['function']['name'] }} {{ call['function']['arguments'] | tojson }}"
    "</tool_call>{% endfor %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# the same template with {% generation %} markers around what the assistant must learn
CHATML_GENERATION = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['role'] == 'assistant' %}{% generation %}"
    "{% if message['content'] %}{{ message['content'] }}{% endif %}"
    "{% for call in message.get('tool_calls') or [] %}"
    "<tool_call>{{ call['function']['name'] }} {{ call['function']['arguments'] | tojson }}"
    "</tool_call>{% endfor %}"
    "<|im_end|>{% endgeneration %}\n"
    "{% else %}"
    "{% if message['content'] %}{{ message['content'] }}{% endif %}<|im_end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Llama-2 style: BOS, [INST] blocks, and a template that refuses non-alternating turns
LLAMA2 = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant') }}"
    "{% endif %}"
    "{% if message['role'] == 'user' %}[INST] {{ message['content'] }} [/INST]"
    "{% else %} {{ message['content'] }}{{ eos_token }}{% endif %}"
    "{% endfor %}"
)

CORPUS = [
    "You are a helpful assistant.",
    "What is the capital of France? The capital of France is Paris.",
    "Tell me a joke about cats. Why did the cat sit on the computer?",
    "get_weather city Paris sunny 21 degrees tool call result",
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "user assistant system tool [INST] [/INST] { } : , \" ' 0 1 2 3 4 5 6 7 8 9",
] * 20


def _train_tokenizer(template: str) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE(unk_token=None))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    core.train_from_iterator(CORPUS, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    tokenizer.chat_template = template
    return tokenizer


@pytest.fixture(scope="session")
def chatml_tokenizer() -> Any:
    return _train_tokenizer(CHATML)


@pytest.fixture(scope="session")
def generation_tokenizer() -> Any:
    return _train_tokenizer(CHATML_GENERATION)


@pytest.fixture(scope="session")
def llama2_tokenizer() -> Any:
    return _train_tokenizer(LLAMA2)


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[..., Path]:
    """Write rows (dicts, or raw strings taken as lines) to a JSONL file in tmp_path."""

    def write(rows: list[Any], name: str = "data.jsonl") -> Path:
        path = tmp_path / name
        with path.open("w", encoding="utf-8") as out:
            for row in rows:
                out.write(row if isinstance(row, str) else json.dumps(row))
                out.write("\n")
        return path

    return write


def _chat(user: str = "Hi", assistant: str = "Hello!", system: str | None = None) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return {"messages": messages}


@pytest.fixture(scope="session")
def chat() -> Callable[..., dict[str, Any]]:
    """Build one OpenAI chat row: chat(user, assistant, system=None)."""
    return _chat
