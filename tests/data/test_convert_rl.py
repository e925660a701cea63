"""Dataset.to(...) for prompt-only (GRPO / reinforcement fine-tuning) and KTO data: each
backend's native shape, the canonical round trip, and the targets that refuse them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tunesdk.data import Dataset
from tunesdk.data.convert import AXOLOTL_KTO_TYPE, axolotl_dataset_entry
from tunesdk.errors import DataError

SYSTEM = {"role": "system", "content": "Answer with a number."}
PLAIN_PROMPTS = [{"prompt": f"{i}+{i}?", "answer": str(2 * i), "id": i} for i in range(12)]
CHAT_PROMPTS = [
    {"messages": [SYSTEM, {"role": "user", "content": f"{i}+{i}?"}], "answer": str(2 * i)}
    for i in range(12)
]
PLAIN_KTO = [
    {"prompt": f"Say {i}", "completion": str(i) if i % 2 else "no", "label": bool(i % 2)}
    for i in range(12)
]
CHAT_KTO = [
    {
        "prompt": [SYSTEM, {"role": "user", "content": f"Say {i}"}],
        "completion": [{"role": "assistant", "content": str(i)}],
        "label": i % 3 != 0,
    }
    for i in range(12)
]


def _written(data: list[dict[str, Any]], fmt: str, tmp_path: Path) -> list[dict[str, Any]]:
    path = Dataset.load(data).to(fmt, tmp_path / f"{fmt}.jsonl")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("fmt", ["openai", "fireworks"])
def test_prompts_become_rft_rows_ending_on_the_user_turn(fmt: str, tmp_path: Path) -> None:
    plain = _written(PLAIN_PROMPTS, fmt, tmp_path)
    assert plain[1] == {"messages": [{"role": "user", "content": "1+1?"}], "answer": "2", "id": 1}
    chat = _written(CHAT_PROMPTS, fmt, tmp_path)
    assert chat[3] == {"messages": CHAT_PROMPTS[3]["messages"], "answer": "6"}
    assert Dataset.load(tmp_path / f"{fmt}.jsonl").format == "openai_rft"  # reads back as RFT


@pytest.mark.parametrize("fmt", ["trl", "unsloth"])
def test_prompts_become_trls_prompt_column_with_the_reference_columns(
    fmt: str, tmp_path: Path
) -> None:
    assert _written(PLAIN_PROMPTS, fmt, tmp_path)[2] == {"prompt": "2+2?", "answer": "4", "id": 2}
    chat = _written(CHAT_PROMPTS, fmt, tmp_path)[2]
    assert chat == {"prompt": CHAT_PROMPTS[2]["messages"], "answer": "4"}


@pytest.mark.parametrize("fmt", ["trl", "unsloth"])
def test_kto_rows_become_trls_unpaired_preference_shape(fmt: str, tmp_path: Path) -> None:
    assert _written(PLAIN_KTO, fmt, tmp_path)[:2] == PLAIN_KTO[:2]
    chat = _written(CHAT_KTO, fmt, tmp_path)
    assert chat[0] == CHAT_KTO[0] and chat[0]["label"] is False


def test_kto_rows_become_axolotls_user_defined_kto_rows(tmp_path: Path) -> None:
    assert _written(PLAIN_KTO, "axolotl", tmp_path)[1] == PLAIN_KTO[1]
    chat = _written(CHAT_KTO, "axolotl", tmp_path)[1]
    assert chat == {
        "prompt": "Say 1",
        "completion": "1",
        "label": True,
        "system": SYSTEM["content"],
    }
    entry = axolotl_dataset_entry(Dataset.load(CHAT_KTO), tmp_path / "axolotl.jsonl")
    assert entry["type"] == AXOLOTL_KTO_TYPE  # what Axolotl's user-defined KTO loader reads
    multi = [
        {
            "prompt": [
                *CHAT_KTO[0]["prompt"],
                *CHAT_KTO[0]["completion"],
                {"role": "user", "content": "again"},
            ],
            "completion": [{"role": "assistant", "content": "0"}],
            "label": True,
        }
    ] * 4
    with pytest.raises(DataError, match="one prompt and one completion"):
        Dataset.load(multi).to("axolotl", tmp_path / "multi.jsonl")


@pytest.mark.parametrize("rows", [PLAIN_PROMPTS, CHAT_PROMPTS, PLAIN_KTO, CHAT_KTO])
def test_canonical_jsonl_reads_back_as_the_same_records(
    rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    original = Dataset.load(rows)
    back = Dataset.load(original.to("jsonl", tmp_path / "canonical.jsonl"))
    assert back.kind == original.kind and list(back) == list(original)


@pytest.mark.parametrize(
    ("rows", "fmt", "takers"),
    [
        (PLAIN_PROMPTS, "together", "openai, fireworks, trl, unsloth, jsonl"),
        (CHAT_PROMPTS, "axolotl", "openai, fireworks, trl, unsloth, jsonl"),
        (PLAIN_KTO, "openai", "trl, unsloth, axolotl, jsonl"),
        (CHAT_KTO, "fireworks", "trl, unsloth, axolotl, jsonl"),
        (PLAIN_KTO, "together", "trl, unsloth, axolotl, jsonl"),
    ],
)
def test_targets_without_the_objective_refuse_it_naming_those_that_take_it(
    rows: list[dict[str, Any]], fmt: str, takers: str, tmp_path: Path
) -> None:
    target = tmp_path / "out.jsonl"
    with pytest.raises(DataError) as info:
        Dataset.load(rows).to(fmt, target)
    assert f"{fmt} fine-tuning does not take" in info.value.message
    assert info.value.fix == f"write it as {takers}"
    assert not target.exists()


def test_plain_prompts_for_openai_carry_no_prompt_completion_warning() -> None:
    """A plain RFT prompt becomes one user turn: no "one assistant turn" warning about it."""
    report = Dataset.load(PLAIN_PROMPTS).validate(backend="openai")
    assert report.ok and report.problems == []
    pairs = [{"prompt": f"q{i}", "completion": "a"} for i in range(12)]
    [warning] = Dataset.load(pairs).validate(backend="openai").problems  # still said for pairs
    assert "one assistant turn" in warning.message
