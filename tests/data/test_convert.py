"""Writing each backend's native file, and round trips that lose nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tunesdk.data import Dataset, axolotl_dataset_entry
from tunesdk.errors import DataError

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]

TOOL_CHAT = {
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather?", "name": "ann"},
        {
            "role": "assistant",
            "content": "Checking.",
            "weight": 0,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "assistant", "content": "Sunny.", "weight": 1, "reasoning_content": "easy"},
    ],
    "tools": TOOLS,
}
PLAIN_CHAT = {
    "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]
}
PAIR = {
    "input": {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}]},
    "preferred_output": [{"role": "assistant", "content": "good"}],
    "non_preferred_output": [{"role": "assistant", "content": "bad"}],
}


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def roundtrip(tmp_path: Path, rows: list[dict[str, Any]], fmt: str) -> tuple[list, list]:
    source = Dataset.load(rows)
    out = source.to(fmt, tmp_path / f"{fmt}.jsonl", check=False)
    return list(source), list(Dataset.load(out))


@pytest.mark.parametrize("fmt", ["jsonl", "openai", "fireworks", "trl", "unsloth"])
def test_chat_round_trip_keeps_tool_calls_weights_names_system(tmp_path, fmt):
    before, after = roundtrip(tmp_path, [TOOL_CHAT, PLAIN_CHAT], fmt)
    assert after == before


def test_together_pins_untrained_turns_when_weights_are_used(tmp_path):
    # Together trains on every turn once any turn has a weight, so the others get weight 0
    before, after = roundtrip(tmp_path, [TOOL_CHAT, PLAIN_CHAT], "together")
    assert [m.weight for m in after[0].messages] == [0, 0, 0, 0, 1]
    assert [m.trained for m in after[0].messages] == [m.trained for m in before[0].messages]
    for message in after[0].messages:
        message.weight = None
    for message in before[0].messages:
        message.weight = None
    assert after == before
    assert after[1] == before[1]  # no weights: nothing added


@pytest.mark.parametrize("fmt", ["jsonl", "openai", "together", "fireworks", "trl"])
def test_preference_round_trip(tmp_path, fmt):
    before, after = roundtrip(tmp_path, [PAIR], fmt)
    assert after == before


@pytest.mark.parametrize("fmt", ["jsonl", "together", "trl"])
def test_plain_pairs_and_text_round_trip(tmp_path, fmt):
    for rows in ([{"prompt": "2+2=", "completion": " 4"}], [{"text": "raw text"}]):
        before, after = roundtrip(tmp_path, rows, fmt)
        assert after == before


def test_canonical_jsonl_keeps_unmodelled_fields(tmp_path):
    rows = [{**PLAIN_CHAT, "id": "ex-1", "meta": {"src": "web"}}]
    before, after = roundtrip(tmp_path, rows, "jsonl")
    assert after == before and after[0].meta == {"id": "ex-1", "meta": {"src": "web"}}
    _, dropped = roundtrip(tmp_path, rows, "openai")
    assert dropped[0].meta == {}


@pytest.mark.parametrize(
    "source",
    [
        {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Yo"}]},
        {"instruction": "Hi", "output": "Yo"},
    ],
)
def test_sharegpt_and_alpaca_become_openai_chat(tmp_path, source):
    out = Dataset.load([source]).to("openai", tmp_path / "o.jsonl", check=False)
    assert read(out) == [PLAIN_CHAT]


def test_openai_native_shapes(tmp_path):
    chat = read(Dataset.load([TOOL_CHAT]).to("openai", tmp_path / "c.jsonl", check=False))[0]
    assert chat == TOOL_CHAT  # OpenAI's own shape comes back byte-for-byte equal as JSON
    dpo = read(Dataset.load([PAIR]).to("openai", tmp_path / "d.jsonl", check=False))[0]
    assert dpo == PAIR
    plain = Dataset.load([{"prompt": "a", "completion": "b"}])
    assert read(plain.to("openai", tmp_path / "p.jsonl", check=False))[0] == {
        "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    }


def test_together_native_shapes(tmp_path):
    def one(rows):
        return read(Dataset.load(rows).to("together", tmp_path / "t.jsonl", check=False))[0]

    assert one([{"prompt": "a", "completion": "b"}]) == {"prompt": "a", "completion": "b"}
    assert one([{"text": "t"}]) == {"text": "t"}
    assert one([PAIR]) == PAIR
    assert one([TOOL_CHAT])["tools"] == TOOLS


def test_trl_native_shapes(tmp_path):
    def one(rows):
        return read(Dataset.load(rows).to("trl", tmp_path / "t.jsonl", check=False))[0]

    chat = one([TOOL_CHAT])
    call = chat["messages"][2]["tool_calls"][0]
    assert call["function"]["arguments"] == {"city": "Paris"}  # HF templates expect a dict
    assert chat["tools"] == TOOLS
    assert one([PAIR]) == {
        "prompt": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}],
        "chosen": [{"role": "assistant", "content": "good"}],
        "rejected": [{"role": "assistant", "content": "bad"}],
    }
    assert one([{"prompt": "a", "chosen": "b", "rejected": "c"}]) == {
        "prompt": "a",
        "chosen": "b",
        "rejected": "c",
    }


def test_axolotl_native_shapes(tmp_path):
    def one(rows):
        return read(Dataset.load(rows).to("axolotl", tmp_path / "a.jsonl", check=False))[0]

    chat = one([TOOL_CHAT])
    assert [m.get("training") for m in chat["messages"]] == [None, None, False, None, True]
    assert chat["tools"] == TOOLS
    assert one([{"prompt": "a", "completion": "b"}]) == {
        "segments": [{"label": False, "text": "a"}, {"label": True, "text": "b"}]
    }
    assert one([PAIR]) == {
        "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}],
        "chosen": {"role": "assistant", "content": "good"},
        "rejected": {"role": "assistant", "content": "bad"},
    }


def test_axolotl_dataset_entry_matches_what_was_written():
    entry = axolotl_dataset_entry(Dataset.load([TOOL_CHAT]), "/d/train.jsonl")
    assert entry["path"] == "/d/train.jsonl" and entry["type"] == "chat_template"
    assert entry["message_field_training"] == "training"

    def kind(rows):
        return axolotl_dataset_entry(Dataset.load(rows), "x")["type"]

    assert kind([PAIR]) == "chat_template.default"
    assert kind([{"prompt": "a", "completion": "b"}]) == "input_output"
    assert kind([{"text": "a"}]) == "completion"


def test_to_refuses_what_the_backend_rejects_and_writes_nothing(tmp_path):
    target = tmp_path / "out.jsonl"
    with pytest.raises(DataError) as caught:
        Dataset.load([PLAIN_CHAT] * 3).to("openai", target)
    assert "openai needs at least 10" in str(caught.value)
    assert caught.value.report is not None and not caught.value.report.ok
    assert not target.exists() and list(tmp_path.iterdir()) == []
    Dataset.load([PLAIN_CHAT] * 10).to("openai", target)
    assert len(read(target)) == 10


def test_to_text_for_a_chat_only_provider(tmp_path):
    with pytest.raises(DataError, match="openai fine-tuning does not take text data"):
        Dataset.load([{"text": "t"}]).to("openai", tmp_path / "x.jsonl", check=False)
    with pytest.raises(DataError, match="unknown output format 'csv'"):
        Dataset.load([{"text": "t"}]).to("csv", tmp_path / "x.csv")


def test_unreadable_row_stops_conversion_with_its_line(tmp_path, write_jsonl):
    path = write_jsonl([PLAIN_CHAT, "{broken", PLAIN_CHAT])
    target = tmp_path / "out.jsonl"
    with pytest.raises(DataError) as caught:
        Dataset.load(path).to("jsonl", target)
    assert f"{path}:2" in str(caught.value)
    with pytest.raises(DataError, match=":2"):
        Dataset.load(path).to("trl", target, check=False)
    assert not target.exists()


def test_to_hf_conversational_shapes_keep_messages_exactly():
    from trl.data_utils import is_conversational

    chat = Dataset.load([TOOL_CHAT, PLAIN_CHAT]).to_hf()
    assert chat.column_names == ["messages", "tools"]
    assert chat[0]["messages"][2]["tool_calls"][0]["function"]["arguments"] == {"city": "Paris"}
    assert chat[1]["messages"] == PLAIN_CHAT["messages"]  # no null keys merged in from row 0
    assert chat[1]["tools"] is None
    assert is_conversational(chat[0])
    pairs = Dataset.load([PAIR]).to_hf()
    assert pairs.column_names == ["prompt", "chosen", "rejected"]
    assert pairs[0]["chosen"] == [{"role": "assistant", "content": "good"}]
    text = Dataset.load([{"text": "a"}]).to_hf()
    assert text.column_names == ["text"] and text[0] == {"text": "a"}


def test_to_hf_rejects_mixed_shapes():
    from tunesdk.data import mix

    mixed = mix([(Dataset.load([PLAIN_CHAT]), 0.5), ([{"prompt": "a", "completion": "b"}], 0.5)])
    with pytest.raises(DataError, match="cannot put"):
        mixed.to_hf()
