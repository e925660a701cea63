"""Training tokens: SFT and DPO arithmetic, epochs, the cap, and which tokenizer counted."""

from __future__ import annotations

from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk.data import Dataset
from tunesdk.estimation.tokens import count_training_tokens, tiktoken_cached
from tunesdk.testing import tiny_chat_data, tiny_tokenizer


def _chat(user: str, assistant: str) -> dict[str, object]:
    return {
        "messages": [
            {"role": "user", "content": user},
            {"role": "assistant", "content": assistant},
        ]
    }


def _pair(prompt: str, chosen: str, rejected: str) -> dict[str, object]:
    return {
        "prompt": [{"role": "user", "content": prompt}],
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
    }


def test_sft_tokens_by_hand_with_the_approximation() -> None:
    # "xxxxxxx\nyyyyyyyy" is 16 characters = 4 tokens at 4 characters per token
    rows = [_chat("x" * 7, "y" * 8)] * 5
    tokens = count_training_tokens(ts.Job(model="org/unknown", data=rows, epochs=3))
    assert tokens.examples == 5
    assert tokens.tokens_per_epoch == 20
    assert tokens.training_tokens == 60
    assert tokens.approximate is True
    assert "4 characters per token" in tokens.counter


def test_dpo_counts_chosen_and_rejected_sequences() -> None:
    # sides: prompt 4 + chosen 8 = 12 chars → 3 tokens; prompt 4 + rejected 4 = 8 chars → 2 tokens
    rows = [_pair("abcd", "abcdefgh", "abcd")] * 3
    tokens = count_training_tokens(ts.Job(model="org/unknown", data=rows, epochs=2))
    assert tokens.objective == "dpo"
    assert tokens.examples == 3
    assert tokens.tokens_per_epoch == 3 * (3 + 2)
    assert tokens.training_tokens == 30
    assert tokens.longest_example == 3


def test_examples_are_capped_at_max_seq_length() -> None:
    rows = [_chat("x" * 199, "y" * 200), _chat("a", "bb")]  # 400 chars → 100 tokens; 4 → 1
    tokens = count_training_tokens(ts.Job(model="org/unknown", data=rows, max_seq_length=16))
    assert tokens.tokens_per_epoch == 16 + 1
    assert tokens.longest_example == 16


def test_a_local_model_is_counted_with_its_own_tokenizer(tiny_model_dir: Path) -> None:
    rows = tiny_chat_data(12)
    tokens = count_training_tokens(ts.Job(model=str(tiny_model_dir), data=rows, epochs=2))
    expected = Dataset.load(rows).stats(tokenizer=tiny_tokenizer(), max_seq_length=2048)
    assert tokens.tokens_per_epoch == expected.billable_tokens
    assert tokens.training_tokens == 2 * expected.billable_tokens
    assert tokens.approximate is False
    assert str(tiny_model_dir) in tokens.counter


def test_no_tiktoken_download_when_the_vocabulary_is_not_cached(tmp_path: Path) -> None:
    assert not tiktoken_cached()  # the autouse fixture points the cache at an empty folder
    (tmp_path / "no-tiktoken-cache").mkdir()
    import hashlib

    url = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
    (tmp_path / "no-tiktoken-cache" / hashlib.sha1(url.encode()).hexdigest()).write_bytes(b"")
    assert tiktoken_cached()


def test_invalid_rows_are_reported_not_counted(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text(
        '{"messages": [{"role": "user", "content": "xxxxxxx"}, '
        '{"role": "assistant", "content": "yyyyyyyy"}]}\nnot json\n'
    )
    tokens = count_training_tokens(ts.Job(model="org/unknown", data=str(path)))
    assert tokens.invalid_rows == 1
    assert tokens.training_tokens == 4


@pytest.mark.parametrize("epochs", [1, 4])
def test_training_tokens_scale_with_epochs(epochs: int) -> None:
    rows = [_chat("x" * 7, "y" * 8)] * 2
    tokens = count_training_tokens(ts.Job(model="org/unknown", data=rows, epochs=epochs))
    assert tokens.training_tokens == 8 * epochs
