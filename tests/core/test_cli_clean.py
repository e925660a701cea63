"""`tunesdk clean`: the fixes `validate` suggests for duplicates and train/eval overlap."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def chat(question: str, answer: str) -> dict[str, object]:
    return {
        "messages": [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]
    }


def long_question(i: int) -> str:
    return f"What is {i} plus {i}, explained step by step for a curious student?"


TRAIN = [chat(long_question(i), str(2 * i)) for i in range(12)]
TRAIN += [TRAIN[0], TRAIN[3], chat("hi", "hello")]  # lines 13, 14: duplicates; 15: copies eval
EVAL = [chat("hi", "hello"), chat(long_question(5) + " Please answer.", "10")]  # overlaps line 6


def write(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def read(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def train(tmp_path: Path) -> Path:
    return write(tmp_path / "train.jsonl", TRAIN)


@pytest.fixture
def eval_file(tmp_path: Path) -> Path:
    return write(tmp_path / "eval.jsonl", EVAL)


def test_validate_suggests_clean_and_clean_removes_the_duplicates(invoke, train: Path) -> None:
    code, stdout, _ = invoke(["validate", str(train)])
    assert code == 0 and "2 exact duplicate example(s)" in stdout
    assert "tunesdk clean" in stdout  # the fix names a command that exists

    out = train.with_name("clean.jsonl")
    code, stdout, stderr = invoke(["clean", str(train), "-o", str(out)])
    assert code == 0, stderr
    assert (
        "dropped 2 exact duplicate(s)" in stdout
        and f"kept 13 of 15 example(s); wrote {out}" in stdout
    )
    assert read(out) == [*TRAIN[:12], TRAIN[14]]  # first copies kept, order kept
    code, stdout, _ = invoke(["validate", str(out)])
    assert code == 0 and "duplicate" not in stdout


def test_drop_overlap_with_eval_drops_copies_and_shared_ngrams(
    invoke, train: Path, eval_file: Path
) -> None:
    out = train.with_name("clean.jsonl")
    code, stdout, stderr = invoke(
        ["clean", str(train), "-o", str(out), "--drop-overlap-with", str(eval_file)]
    )
    assert code == 0, stderr
    assert "dropped 1 exact copy(ies) of eval examples" in stdout  # "hi" is too short for n-grams
    assert "dropped 1 example(s) sharing a 13-word sequence" in stdout
    assert f"{train}:6  ~  {eval_file}:2" in stdout  # where, in both files
    assert read(out) == TRAIN[:5] + TRAIN[6:12]
    assert "kept 11 of 15" in stdout


def test_keep_duplicates_and_a_shorter_ngram(invoke, train: Path, eval_file: Path) -> None:
    out = train.with_name("clean.jsonl")
    code, stdout, _ = invoke(
        [
            *("clean", str(train), "-o", str(out), "--keep-duplicates", "--ngram", "4"),
            *("--drop-overlap-with", str(eval_file)),
        ]
    )
    assert code == 0
    assert "exact duplicate" not in stdout
    # every long question shares "explained step by step" with the eval question: all go
    assert read(out) == []


def test_a_job_file_is_cleaned_against_its_own_eval_data(
    invoke, tmp_path: Path, train: Path, eval_file: Path
) -> None:
    job = tmp_path / "job.yaml"
    job.write_text(f"model: tiny/model\ndata: {train}\neval_data: {eval_file}\n")
    out = tmp_path / "clean.jsonl"
    code, stdout, stderr = invoke(["clean", str(job), "-o", str(out), "--to", "openai"])
    assert code == 0, stderr
    assert len(read(out)) == 11 and "kept 11 of 15" in stdout


def test_the_output_may_not_be_the_input(invoke, train: Path) -> None:
    before = train.read_bytes()
    code, _, stderr = invoke(["clean", str(train), "-o", str(train)])
    assert code == 2
    assert "is also an input" in stderr and "-o train.clean.jsonl" in stderr
    assert train.read_bytes() == before


def test_a_target_the_data_does_not_fit_is_refused_and_writes_nothing(
    invoke, tmp_path: Path
) -> None:
    data = write(tmp_path / "bad.jsonl", [chat("q", "a"), {"messages": []}])
    out = tmp_path / "clean.jsonl"
    code, _, stderr = invoke(["clean", str(data), "-o", str(out), "--to", "openai"])
    assert code == 2 and "bad.jsonl:2" in stderr and "Traceback" not in stderr
    assert not out.exists()
