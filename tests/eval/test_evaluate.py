"""ts.evaluate on a fake chat handle: data shapes, scores, report files, early errors."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk.errors import DataError, JobError
from tunesdk.testing import tiny_chat_data, tiny_preference_data

from .conftest import FakeChatBackend, Reply, last_user

CAPITALS = {"France": "Paris", "Japan": "Tokyo", "Italy": "Rome", "Spain": "Madrid"}
QA_ROWS = [{"question": f"Capital of {c}?", "answer": a} for c, a in CAPITALS.items()]


def half_right(messages: list[dict]) -> str:
    country = last_user(messages).removeprefix("Capital of ").rstrip("?")
    return CAPITALS[country] + "." if country in ("France", "Japan") else "I am not sure"


def test_scores_question_answer_rows(fake_models: Callable[[str, Reply], ts.ProviderModel]) -> None:
    model = fake_models("capitals", half_right)
    report = ts.evaluate(model, QA_ROWS, metrics=["exact_match", "f1", "accuracy"])
    assert report.n == 4
    assert report.aggregate == {"exact_match": 0.5, "f1": 0.5, "accuracy": 0.5}
    first = report.examples[0]
    assert (first.prompt, first.reference, first.prediction) == (
        "Capital of France?",
        "Paris",
        "Paris.",
    )
    assert first.scores == {"exact_match": 1.0, "f1": 1.0, "accuracy": 1.0}
    assert report.model == "fakechat:capitals"


def test_chat_examples_use_the_last_assistant_turn_as_reference(
    fake_models: Callable[[str, Reply], ts.ProviderModel],
) -> None:
    rows = [
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "2+2?"},
                {"role": "assistant", "content": "4"},
                {"role": "user", "content": "and 3+3?"},
                {"role": "assistant", "content": "6"},
            ]
        }
    ]
    model = fake_models("math", lambda messages: "6")
    report = ts.evaluate(model, rows, metrics=["exact_match"], max_new_tokens=7)
    assert report["exact_match"] == 1.0
    _, sent, generation = FakeChatBackend.calls[0]
    assert [m["content"] for m in sent] == ["Be brief.", "2+2?", "4", "and 3+3?"]
    assert generation == {"max_tokens": 7}  # provider handles get chat-completions' max_tokens


def test_local_handles_get_max_new_tokens_and_limit_stops_early(
    fake_models: Callable[[str, Reply], ts.ProviderModel], tmp_path: Path
) -> None:
    fake_models("adapter", lambda messages: "The cat says meow.")
    local = ts.LocalModel(path=str(tmp_path / "adapter"), engine="fakechat")
    report = ts.evaluate(local, tiny_chat_data(10), metrics=["f1"], limit=3, max_new_tokens=5)
    assert report.n == 3 and len(FakeChatBackend.calls) == 3
    assert FakeChatBackend.calls[0][2] == {"max_new_tokens": 5}


def test_prompt_reference_rows_from_a_jsonl_file(
    fake_models: Callable[[str, Reply], ts.ProviderModel], tmp_path: Path
) -> None:
    path = tmp_path / "heldout.jsonl"
    rows = [{"id": "q1", "prompt": "Say hi", "reference": "hi there"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    report = ts.evaluate(fake_models("greeter", lambda m: "hi"), path, metrics=["f1", "rouge"])
    # tokens [hi] vs [hi, there]: P = 1, R = 1/2 → F1 = 2/3 (ROUGE-1 and -L agree; no bigram)
    assert report.aggregate == pytest.approx(
        {"f1": 2 / 3, "rouge1": 2 / 3, "rouge2": 0.0, "rougeL": 2 / 3}
    )
    assert report.examples[0].id == "q1"


def test_report_files_and_table(
    fake_models: Callable[[str, Reply], ts.ProviderModel], tmp_path: Path
) -> None:
    report = ts.evaluate(fake_models("capitals", half_right), QA_ROWS, metrics=["exact_match"])
    with open(report.to_csv(tmp_path / "out" / "scores.csv"), newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [row["exact_match"] for row in table] == ["1", "1", "0", "0"]
    assert table[2]["prediction"] == "I am not sure" and table[2]["reference"] == "Rome"
    data = json.loads(report.to_json(tmp_path / "scores.json"))
    assert data["aggregate"] == {"exact_match": 0.5}
    assert json.loads((tmp_path / "scores.json").read_text()) == data
    text = str(report)
    assert "exact_match" in text and "0.5000" in text and "n=4" in text


def test_bad_metric_and_bad_data_fail_before_any_generation(
    fake_models: Callable[[str, Reply], ts.ProviderModel],
) -> None:
    model = fake_models("never", lambda messages: pytest.fail("must not be asked"))
    with pytest.raises(JobError, match="did you mean 'rouge'"):
        ts.evaluate(model, QA_ROWS, metrics=["rogue"])
    with pytest.raises(DataError, match="reference answer") as info:
        ts.evaluate(model, tiny_preference_data(2), metrics=["f1"])
    assert "<list>:1" in str(info.value)
    with pytest.raises(DataError, match="no assistant turn"):
        ts.evaluate(model, [{"messages": [{"role": "user", "content": "hi"}]}], metrics=["f1"])
    assert FakeChatBackend.calls == []
