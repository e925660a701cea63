"""The job's data checked as the job uses it: split minimums named, duplicates and train/eval
overlap warned, at submit (a Log warning) and in validate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk.backend import validate_job_data
from tunesdk.data.preflight import check_training_data
from tunesdk.errors import DataError
from tunesdk.events import Log
from tunesdk.testing import tiny_chat_data


def _chat(i: int, words: int = 2) -> dict[str, object]:
    question = " ".join(f"word{i}x{k}" for k in range(words))
    return {
        "messages": [
            {"role": "user", "content": f"question {question}"},
            {"role": "assistant", "content": f"answer {i}"},
        ]
    }


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_the_eval_split_minimum_names_the_split(tmp_path: Path) -> None:
    data = _write(tmp_path / "train.jsonl", [_chat(i) for i in range(64)])
    job = ts.Job(model="gpt-4o-mini-2024-07-18", data=str(data), eval_split=0.1)
    with pytest.raises(DataError) as info:
        validate_job_data(job, "openai", rules="openai")
    text = str(info.value)
    assert "the eval split (eval_split=0.1) holds 6 of the 64 example(s)" in text
    assert "openai needs at least 10" in text
    assert "give at least 95 examples" in text


def test_split_halves_that_are_big_enough_pass(tmp_path: Path) -> None:
    data = _write(tmp_path / "train.jsonl", [_chat(i) for i in range(100)])
    checked = check_training_data(data, eval_split=0.1, backend="openai")
    assert checked.ok and checked.warnings == []


def test_tutorial_data_warns_of_duplicates_and_a_leaky_split(tmp_path: Path) -> None:
    data = _write(tmp_path / "train.jsonl", tiny_chat_data(64))
    checked = check_training_data(data, eval_split=0.1)
    assert checked.ok
    joined = "\n".join(checked.warnings)
    assert "exact duplicate example(s)" in joined and "unique of 64" in joined
    assert "of the 6 example(s) of the eval split (eval_split=0.1) are exact copies" in joined


def test_eval_data_copied_from_training_is_warned(tmp_path: Path) -> None:
    train = _write(tmp_path / "train.jsonl", [_chat(i) for i in range(10)])
    held = _write(tmp_path / "val.jsonl", [_chat(3), _chat(99)])
    checked = check_training_data(train, eval_data=held)
    assert checked.ok
    assert any("1 of the 2 eval example(s) are exact copies" in w for w in checked.warnings)


def test_eval_data_sharing_ngrams_is_warned(tmp_path: Path) -> None:
    train = _write(tmp_path / "train.jsonl", [_chat(i, words=14) for i in range(5)])
    near = _chat(2, words=14)
    near["messages"][1]["content"] = "a different answer"  # type: ignore[index]
    held = _write(tmp_path / "val.jsonl", [near])
    checked = check_training_data(train, eval_data=held)
    assert any("share a 13-word sequence with eval_data" in w for w in checked.warnings)


def test_submit_logs_the_overlap_as_a_warning(tmp_path: Path) -> None:
    data = _write(tmp_path / "train.jsonl", tiny_chat_data(64))
    run = ts.Job(model="tiny/model", data=str(data), eval_split=0.1, max_steps=2).submit(
        "simulated"
    )
    run.wait(timeout=60)
    warned = [e.message for e in run.record.events() if isinstance(e, Log) and e.level == "warning"]
    assert any("exact copies of training examples" in m for m in warned)


def test_the_halves_of_a_split_are_named(tmp_path: Path) -> None:
    data = _write(tmp_path / "train.jsonl", [_chat(i) for i in range(64)])
    _, held = ts.Dataset.load(data).split(0.1)
    with pytest.raises(DataError) as info:
        held.to("openai", tmp_path / "eval.jsonl")
    assert f"eval split 0.1 of {data}: 6 example(s); openai needs at least 10" in str(info.value)


def test_many_warnings_about_single_examples_are_summed_up(tmp_path: Path) -> None:
    long = " ".join(f"w{i}" for i in range(60))
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"{i} {long}"},
                {"role": "assistant", "content": "a"},
            ]
        }
        for i in range(10)
    ]
    checked = check_training_data(_write(tmp_path / "t.jsonl", rows), max_seq_length=16)
    assert len(checked.warnings) == 4
    assert checked.warnings[-1].startswith("... and 7 more warning(s)")


def test_openai_submit_names_the_split_before_any_upload(
    tmp_path: Path, providers: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("tunesdk_openai")
    data = _write(tmp_path / "train.jsonl", [_chat(i) for i in range(64)])
    job = ts.Job(model="gpt-4o-mini-2024-07-18", data=str(data), eval_split=0.1)
    with providers.openai() as provider:  # type: ignore[attr-defined]
        provider.wire(monkeypatch, tmp_path / "home")
        with pytest.raises(DataError, match=r"the eval split \(eval_split=0\.1\) holds 6"):
            job.submit("openai")
        assert provider.requests == []
