"""Prompt-only (GRPO) and KTO data: detection, validation, objective checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk.data import Dataset
from tunesdk.errors import DataError


def needs_answer(
    prompts: list[str], completions: list[str], *, answer: list[str], **_: object
) -> list[float]:
    return [float(c == a) for c, a in zip(completions, answer, strict=True)]


def write(tmp_path: Path, name: str, rows: list[dict[str, object]]) -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_openai_rft_rows_are_prompt_only_and_keep_reference_columns(tmp_path: Path) -> None:
    rows = [
        {
            "messages": [
                {"role": "developer", "content": "Answer with a number."},
                {"role": "user", "content": "2+2?"},
            ],
            "answer": "4",
        },
        {"messages": [{"role": "user", "content": "3+3?"}], "answer": "6"},
    ]
    data = Dataset.load(write(tmp_path, "rft.jsonl", rows))
    assert (data.format, data.kind) == ("openai_rft", "prompt")
    first = data.head(1)[0]
    assert first.prompt_only and first.meta == {"answer": "4"} and len(first.messages) == 2


def test_trl_prompt_column_is_prompt_only(tmp_path: Path) -> None:
    data = Dataset.load(write(tmp_path, "p.jsonl", [{"prompt": "Say hi", "solution": "hi"}]))
    assert (data.format, data.kind) == ("prompt_only", "prompt")
    record = data.head(1)[0]
    assert not record.chat and record.messages[0].text == "Say hi"
    assert record.meta == {"solution": "hi"}
    assert data.validate().ok


def test_an_answered_row_in_an_rft_file_is_named_by_line(tmp_path: Path) -> None:
    rows = [
        {"messages": [{"role": "user", "content": "2+2?"}], "answer": "4"},
        {"messages": [{"role": "user", "content": "1+1?"}], "answer": "2"},
        {
            "messages": [
                {"role": "user", "content": "3+3?"},
                {"role": "assistant", "content": "6"},
            ]
        },
    ]
    report = Dataset.load(write(tmp_path, "rft.jsonl", rows)).validate()
    assert not report.ok
    (problem,) = report.problems
    assert problem.line == 3 and "assistant answer" in problem.message


def test_an_sft_file_whose_first_row_lacks_its_answer_stays_sft(tmp_path: Path) -> None:
    rows = [
        {"messages": [{"role": "user", "content": "hi"}]},
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]},
    ]
    data = Dataset.load(write(tmp_path, "sft.jsonl", rows))
    assert data.kind == "sft"
    assert [p.line for p in data.validate().problems if p.severity == "error"] == [1]


def test_an_empty_prompt_is_an_error(tmp_path: Path) -> None:
    report = Dataset.load(write(tmp_path, "p.jsonl", [{"prompt": "  "}])).validate()
    assert [(p.line, p.field) for p in report.problems] == [(1, "prompt")]


def test_a_reward_that_needs_answer_names_each_row_without_it(tmp_path: Path) -> None:
    path = write(
        tmp_path, "p.jsonl", [{"prompt": "a", "answer": "1"}, {"prompt": "b"}, {"prompt": "c"}]
    )
    job = ts.Job(model="m", data=str(path), rewards=["tests_need:score"])
    job.infer_objective()  # a reference is not imported at plan: nothing known to need

    job = ts.Job(model="m", data=str(path), rewards=[needs_answer])
    with pytest.raises(DataError) as info:
        job.infer_objective()
    assert "p.jsonl:2: no 'answer'" in info.value.message
    assert "p.jsonl:3: no 'answer'" in info.value.message


def test_sft_objective_on_prompt_only_data_says_to_use_grpo(tmp_path: Path) -> None:
    path = write(tmp_path, "p.jsonl", [{"prompt": "a"}])
    with pytest.raises(DataError, match="prompts without answers") as info:
        ts.Job(model="m", data=str(path), objective="sft").infer_objective()
    assert "objective: grpo" in (info.value.fix or "")


def test_kto_rows_are_detected_validated_and_inferred(tmp_path: Path) -> None:
    rows = [
        {"prompt": "q", "completion": "good", "label": True},
        {"prompt": "q", "completion": "bad", "label": False},
    ]
    path = write(tmp_path, "kto.jsonl", rows)
    data = Dataset.load(path)
    assert (data.format, data.kind) == ("kto", "kto")
    assert [r.label for r in data] == [True, False]
    assert ts.Job(model="m", data=str(path)).infer_objective() == "kto"
    with pytest.raises(DataError, match="KTO trains on prompt/completion/label"):
        ts.Job(
            model="m", data=[{"prompt": "q", "completion": "a"}], objective="kto"
        ).infer_objective()


def test_a_string_label_is_not_kto_and_orpo_needs_pairs(tmp_path: Path) -> None:
    data = Dataset.load([{"prompt": "q", "completion": "a", "label": "yes"}])
    assert data.kind == "sft"  # a classification label column is kept as metadata
    with pytest.raises(DataError, match="ORPO trains on preference pairs"):
        ts.Job(
            model="m", data=[{"prompt": "q", "completion": "a"}], objective="orpo"
        ).infer_objective()
