# mypy: disable-error-code="union-attr"
"""Reading every supported format and source into canonical records."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tunesdk.data import Conversation, Dataset, Message, Preference, Text, ToolCall
from tunesdk.errors import DataError

TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}


def test_openai_chat_keeps_tools_weights_names_and_source(write_jsonl, chat):
    row = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Paris?", "name": "ann"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
                "weight": 0,
            },
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
            {"role": "assistant", "content": "Sunny.", "weight": 1},
        ],
        "tools": [TOOL],
        "parallel_tool_calls": False,
    }
    path = write_jsonl([chat(), row])
    ds = Dataset.load(path)
    assert (ds.format, ds.kind) == ("openai_chat", "sft")
    first, second = list(ds)
    assert first.source == (str(path), 1)
    assert second.source == (str(path), 2)
    assert second == Conversation(
        messages=[
            Message("system", "Be brief."),
            Message("user", "Weather in Paris?", name="ann"),
            Message(
                "assistant",
                None,
                weight=0,
                tool_calls=[ToolCall("get_weather", '{"city": "Paris"}', id="c1")],
            ),
            Message("tool", "sunny", tool_call_id="c1"),
            Message("assistant", "Sunny.", weight=1),
        ],
        tools=[TOOL],
        parallel_tool_calls=False,
    )


def test_sharegpt_maps_human_gpt_system_aliases(write_jsonl):
    row = {
        "conversations": [
            {"from": "system", "value": "Be kind."},
            {"from": "human", "value": "Hi"},
            {"from": "gpt", "value": "Hello!"},
        ]
    }
    ds = Dataset.load(write_jsonl([row]))
    assert ds.format == "sharegpt"
    (record,) = ds
    assert [(m.role, m.content) for m in record.messages] == [
        ("system", "Be kind."),
        ("user", "Hi"),
        ("assistant", "Hello!"),
    ]


def test_sharegpt_role_content_variant_and_top_level_system(write_jsonl):
    row = {
        "system": "Be kind.",
        "conversations": [{"role": "human", "content": "Hi"}, {"role": "gpt", "value": "Yo"}],
    }
    (record,) = Dataset.load(write_jsonl([row]))
    assert [(m.role, m.content) for m in record.messages] == [
        ("system", "Be kind."),
        ("user", "Hi"),
        ("assistant", "Yo"),
    ]


def test_alpaca_with_and_without_input(write_jsonl):
    rows = [
        {"instruction": "Translate", "input": "chat", "output": "cat"},
        {"instruction": "Say hi", "input": "", "output": "hi", "system": "Be short."},
    ]
    ds = Dataset.load(write_jsonl(rows))
    assert ds.format == "alpaca"
    first, second = ds
    assert [m.content for m in first.messages] == ["Translate\n\nchat", "cat"]
    assert [(m.role, m.content) for m in second.messages] == [
        ("system", "Be short."),
        ("user", "Say hi"),
        ("assistant", "hi"),
    ]


def test_prompt_completion_plain_is_not_chat(write_jsonl):
    (record,) = Dataset.load(write_jsonl([{"prompt": "2+2=", "completion": "4"}]))
    assert record.chat is False
    assert [m.text for m in record.messages] == ["2+2=", "4"]


def test_json_looking_text_stays_text(write_jsonl):
    rows = [
        {"prompt": "Give JSON", "completion": '{"a": 1}'},
        {"prompt": "List", "completion": "[1, 2]"},
        {"prompt": "[citation needed]", "completion": "ok"},
    ]
    records = list(Dataset.load(write_jsonl(rows)))
    assert [r.messages[1].content for r in records] == ['{"a": 1}', "[1, 2]", "ok"]
    assert all(not r.chat for r in records)


def test_prompt_completion_conversational_trains_on_completion_only(write_jsonl):
    row = {
        "prompt": [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": "c"},
        ],
        "completion": [{"role": "assistant", "content": "d"}],
    }
    (record,) = Dataset.load(write_jsonl([row]))
    assert record.chat is True
    assert [(m.content, m.trained) for m in record.messages] == [
        ("a", False),
        ("b", False),
        ("c", False),
        ("d", True),
    ]


def test_text_format(write_jsonl):
    ds = Dataset.load(write_jsonl([{"text": "Once upon a time"}]))
    assert (ds.format, ds.kind) == ("text", "text")
    assert list(ds) == [Text("Once upon a time")]


def test_preference_explicit_conversational(write_jsonl):
    row = {
        "prompt": [{"role": "user", "content": "Sky?"}],
        "chosen": [{"role": "assistant", "content": "Blue."}],
        "rejected": [{"role": "assistant", "content": "Green."}],
    }
    ds = Dataset.load(write_jsonl([row]))
    assert (ds.format, ds.kind) == ("preference", "dpo")
    assert list(ds) == [
        Preference(
            prompt=[Message("user", "Sky?")],
            chosen=[Message("assistant", "Blue.")],
            rejected=[Message("assistant", "Green.")],
        )
    ]


def test_preference_implicit_prompt_conversational(write_jsonl):
    user = {"role": "user", "content": "Sky?"}
    row = {
        "chosen": [user, {"role": "assistant", "content": "Blue."}],
        "rejected": [user, {"role": "assistant", "content": "Green."}],
    }
    (pair,) = Dataset.load(write_jsonl([row]))
    assert pair.prompt == [Message("user", "Sky?")]
    assert pair.chosen == [Message("assistant", "Blue.")]
    assert pair.rejected == [Message("assistant", "Green.")]


def test_preference_plain_strings_explicit_and_implicit(write_jsonl):
    rows = [
        {"prompt": "The sky is", "chosen": " blue.", "rejected": " green."},
        {"chosen": "The sky is blue.", "rejected": "The sky is green."},
    ]
    explicit, implicit = Dataset.load(write_jsonl(rows))
    assert explicit.chat is False and implicit.chat is False
    assert explicit.prompt[0].content == "The sky is"
    # TRL's rule: the shared prefix, without the space before the divergence
    assert implicit.prompt[0].content == "The sky is"
    assert (implicit.chosen[0].content, implicit.rejected[0].content) == (" blue.", " green.")


def test_openai_dpo_shape(write_jsonl):
    row = {
        "input": {
            "messages": [{"role": "user", "content": "Hi"}],
            "tools": [TOOL],
            "parallel_tool_calls": True,
        },
        "preferred_output": [{"role": "assistant", "content": "Hello!"}],
        "non_preferred_output": [{"role": "assistant", "content": "Go away."}],
    }
    ds = Dataset.load(write_jsonl([row]))
    assert (ds.format, ds.kind) == ("openai_dpo", "dpo")
    (pair,) = ds
    assert pair.tools == [TOOL] and pair.parallel_tool_calls is True
    assert pair.chosen[0].content == "Hello!"


def test_column_mapping_covers_other_layouts(write_jsonl):
    path = write_jsonl([{"question": "2+2?", "answer": "4", "id": 7}])
    ds = Dataset.load(path, columns={"question": "prompt", "answer": "completion"})
    assert ds.format == "prompt_completion"
    (record,) = ds
    assert [m.text for m in record.messages] == ["2+2?", "4"]
    assert record.meta == {"id": 7}


def test_explicit_format_overrides_detection_and_reports_missing_keys(write_jsonl):
    path = write_jsonl([{"text": "hello", "messages": "not used"}, {"prompt": "x"}])
    ds = Dataset.load(path, format="text")
    assert ds.format == "text"
    report = ds.validate()
    assert [(p.line, p.field, p.message) for p in report.problems] == [
        (2, "text", "missing 'text'")
    ]


def test_unknown_format_name_is_a_clear_error(write_jsonl, chat):
    with pytest.raises(DataError, match="unknown data format 'chatml'"):
        Dataset.load(write_jsonl([chat()]), format="chatml")


def test_undetectable_keys_suggest_a_column_mapping(write_jsonl):
    with pytest.raises(DataError) as caught:
        Dataset.load(write_jsonl([{"question": "a", "answer": "b"}]))
    assert "match no known format" in str(caught.value)
    assert "columns=" in str(caught.value)
    assert caught.value.report is not None


def test_list_of_dicts_and_dataset_passthrough(chat):
    ds = Dataset.load([chat("a", "b"), chat("c", "d")])
    assert ds.name == "<list>"
    assert [r.source for r in ds] == [("<list>", 1), ("<list>", 2)]
    assert Dataset.load(ds) is ds


def test_json_array_reports_element_lines(tmp_path: Path):
    path = tmp_path / "data.json"
    path.write_text('[\n  {"text": "a"},\n\n  {"text": "b"}\n]\n', encoding="utf-8")
    assert [r.source.line for r in Dataset.load(path)] == [2, 4]


def test_json_file_holding_json_lines(tmp_path: Path):
    path = tmp_path / "data.json"
    path.write_text('{"text": "a"}\n{"text": "b"}\n', encoding="utf-8")
    assert [r.text for r in Dataset.load(path)] == ["a", "b"]


def test_csv_with_json_cells(tmp_path: Path, chat):
    path = tmp_path / "data.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["messages"])
        pretty = json.dumps(chat("multi\nline", "ok")["messages"], indent=1)
        writer.writerow([pretty])
        writer.writerow([json.dumps(chat("b", "c")["messages"])])
    ds = Dataset.load(path)
    records = list(ds)
    assert records[0].messages[0].content == "multi\nline"
    # the first record's quoted cell spans several lines; the second starts after them
    assert [r.source.line for r in records] == [2, 3 + pretty.count("\n")]


def test_parquet_rows(tmp_path: Path, chat):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "data.parquet"
    pq.write_table(pa.Table.from_pylist([chat("a", "b"), chat("c", "d")]), path)
    ds = Dataset.load(path)
    assert ds.format == "openai_chat"
    assert [(r.source.line, r.messages[1].content) for r in ds] == [(1, "b"), (2, "d")]


def test_hf_dataset_source():
    import datasets

    hf = datasets.Dataset.from_list([{"text": "a"}, {"text": "b"}])
    ds = Dataset.load(hf)
    assert ds.name == "<datasets.Dataset>"
    assert [r.text for r in ds] == ["a", "b"]
    with pytest.raises(DataError, match=r"pick one split, e.g. Dataset.load\(data\['train'\]\)"):
        Dataset.load(datasets.DatasetDict({"train": hf}))


def test_directory_and_glob(tmp_path: Path, write_jsonl, chat):
    write_jsonl([chat("a", "b")], "part-1.jsonl")
    write_jsonl([chat("c", "d")], "part-2.jsonl")
    (tmp_path / "notes.txt").write_text("ignored")
    from_dir = [r.messages[0].content for r in Dataset.load(tmp_path)]
    from_glob = [r.messages[0].content for r in Dataset.load(str(tmp_path / "part-*.jsonl"))]
    assert from_dir == from_glob == ["a", "c"]


def test_missing_path_and_unsupported_source(tmp_path: Path):
    with pytest.raises(DataError, match="no such file"):
        Dataset.load(tmp_path / "nope.jsonl")
    with pytest.raises(DataError, match="glob matches no data files"):
        Dataset.load(str(tmp_path / "*.jsonl"))
    with pytest.raises(DataError, match="cannot read training data from a int"):
        Dataset.load(42)
