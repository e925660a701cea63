# mypy: disable-error-code="union-attr"
"""Counts, token lengths, truncation and billable tokens."""

from __future__ import annotations

import math

import pytest

from tunesdk.data import Dataset
from tunesdk.errors import TuneError


def rows(chat):
    return [
        chat("a" * 40, "b" * 80, system="s" * 20),
        chat("c" * 4, "d" * 4),
        {
            "messages": [
                {"role": "user", "content": "q"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
            ],
            "tools": [{"type": "function", "function": {"name": "f"}}],
        },
    ]


def test_counts_turns_and_the_stated_approximation(chat):
    stats = Dataset.load(rows(chat)).stats(max_seq_length=30, epochs=2)
    assert stats.examples == 3
    assert (stats.turns.min, stats.turns.max) == (2, 3)
    assert stats.with_system_prompt == 1 and stats.with_tool_calls == 1
    # 4 characters per token over all text, newline-joined
    first = math.ceil((20 + 1 + 40 + 1 + 80) / 4)
    assert stats.tokens.max == first
    assert stats.truncated == 1
    assert stats.billable_tokens == 2 * (
        30 + sum(math.ceil(len(t) / 4) for t in ("cccc\ndddd", "q\n\nf {}"))
    )
    assert "approximation: 4 characters per token" in stats.render()
    assert stats.total_tokens == first + 3 + 2


def test_tiktoken_counts_like_the_openai_cookbook(chat):
    import tiktoken

    # a byte-level encoding built here (tiktoken's real vocabularies are downloaded)
    encoding = tiktoken.Encoding(
        name="bytes",
        pat_str=r"\S+|\s+",
        mergeable_ranks={bytes([i]): i for i in range(256)},
        special_tokens={},
    )
    stats = Dataset.load([chat("hello", "hi")]).stats(tokenizer=encoding)
    # 3 per message + role + content, + 3 for the reply priming
    assert stats.total_tokens == (3 + 4 + 5) + (3 + 9 + 2) + 3
    assert stats.token_counter == "tiktoken bytes"


def test_unknown_tiktoken_name_is_a_clear_error(chat):
    with pytest.raises(TuneError, match="neither an OpenAI model"):
        Dataset.load([chat()]).stats(tokenizer="no-such-model-or-encoding")


def test_preference_length_is_prompt_plus_the_longer_reply():
    pair = {"prompt": "p" * 8, "chosen": "c" * 8, "rejected": "r" * 16}
    stats = Dataset.load([pair]).stats()
    assert stats.total_tokens == (8 + 16) // 4


def test_invalid_rows_are_counted_apart(write_jsonl, chat):
    stats = Dataset.load(write_jsonl([chat(), "{bad", chat()])).stats()
    assert (stats.examples, stats.invalid_rows) == (2, 1)
    assert "invalid rows:    1" in stats.render()


def test_tiktoken_download_failure_says_how_to_fix(chat, monkeypatch):
    import tiktoken

    def offline(name):
        raise ConnectionError("no network")

    monkeypatch.setattr(tiktoken, "get_encoding", offline)
    with pytest.raises(TuneError) as caught:
        Dataset.load([chat()]).stats(tokenizer="gpt-4o-mini-2024-07-18")
    assert "o200k_base" in str(caught.value) and "TIKTOKEN_CACHE_DIR" in str(caught.value)
