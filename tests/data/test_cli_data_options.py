"""``tunesdk validate`` / ``stats``: --tokenizer (real tokens, or a stated approximation), job
files, --columns, --eval-split, duplicates."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tunesdk.testing import tiny_chat_data


def _cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[int, str]:
    from tunesdk.cli import main

    monkeypatch.setattr(sys, "argv", ["tunesdk", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _validate_at_128(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, path: Path, tokenizer: Path
) -> tuple[int, str]:
    """``tunesdk validate PATH --max-seq-length 128 --tokenizer TOKENIZER``."""
    args = ("--max-seq-length", "128", "--tokenizer", str(tokenizer))
    return _cli(capsys, monkeypatch, "validate", str(path), *args)


def _long(path: Path, words: int = 600) -> Path:
    text = " ".join(f"w{i}" for i in range(words))
    row = {"messages": [{"role": "user", "content": text}, {"role": "assistant", "content": "ok"}]}
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    return path


def test_a_long_answer_is_cut_but_still_teaches(
    tmp_path: Path,
    tokenizer_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = " ".join(f"w{i}" for i in range(600))
    row = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": text}]}
    path = tmp_path / "long_answer.jsonl"
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    code, text = _validate_at_128(capsys, monkeypatch, path, tokenizer_dir)
    assert code == 0 and "token(s) are cut off in training" in text


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers")
    from tunesdk.testing import tiny_tokenizer

    folder = tmp_path_factory.mktemp("tok")
    tiny_tokenizer().save_pretrained(str(folder))
    return folder


def test_validate_without_a_tokenizer_approximates_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _long(tmp_path / "long.jsonl")
    code, text = _cli(
        capsys, monkeypatch, "validate", str(path), "-b", "trl", "--max-seq-length", "128"
    )
    assert code == 0
    assert "over max_seq_length 128" in text
    assert "approximation: 4 characters per token" in text and "--tokenizer" in text


def test_validate_with_a_tokenizer_counts_real_tokens(
    tmp_path: Path,
    tokenizer_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = _long(tmp_path / "long.jsonl")
    code, text = _validate_at_128(capsys, monkeypatch, path, tokenizer_dir)
    assert code == 2  # the one assistant token is past the cut: nothing left to learn
    assert f"token lengths: tokenizer {tokenizer_dir}" in text and "approximate" not in text
    assert "none of its assistant tokens comes before max_seq_length 128" in text
    assert "training would learn nothing" in text


def test_stats_with_and_without_a_tokenizer(
    tmp_path: Path,
    tokenizer_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = _long(tmp_path / "long.jsonl", words=100)
    code, text = _cli(capsys, monkeypatch, "stats", str(path))
    assert code == 0 and "approximation: 4 characters per token" in text
    code, text = _cli(capsys, monkeypatch, "stats", str(path), "--tokenizer", str(tokenizer_dir))
    assert code == 0 and f"tokenizer {tokenizer_dir}" in text


def test_an_unknown_tokenizer_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = _long(tmp_path / "long.jsonl", words=10)
    code, text = _cli(capsys, monkeypatch, "validate", str(path), "--tokenizer", "./nope")
    assert code == 2 and "is not a folder" in text and "Traceback" not in text


def test_validate_a_job_file_checks_the_eval_split_like_submit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]}
        for i in range(64)
    ]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "job.yaml").write_text(
        "model: gpt-4o-mini-2024-07-18\ndata: train.jsonl\neval_split: 0.1\n"
    )
    code, text = _cli(
        capsys, monkeypatch, "validate", str(tmp_path / "train.jsonl"), "-b", "openai"
    )
    assert code == 0
    code, text = _cli(capsys, monkeypatch, "validate", str(tmp_path / "job.yaml"), "-b", "openai")
    assert code == 2 and "the eval split (eval_split=0.1) holds 6 of the 64" in text
    code, text = _cli(
        capsys,
        monkeypatch,
        "validate",
        str(tmp_path / "train.jsonl"),
        "-b",
        "openai",
        "--eval-split",
        "0.1",
    )
    assert code == 2 and "the eval split" in text


def test_validate_warns_on_duplicates_and_a_leaky_split(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in tiny_chat_data(64)))
    code, text = _cli(capsys, monkeypatch, "validate", str(path), "--eval-split", "0.1")
    assert code == 0
    assert "exact duplicate example(s)" in text and "exact copies of training examples" in text


def test_columns_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("Question,Answer\nWhat is 1+1?,2\nWhat is 2+2?,4\n", encoding="utf-8")
    code, text = _cli(capsys, monkeypatch, "validate", str(path))
    assert code == 2 and text.count("match no known format") == 1
    assert "--columns Question=prompt,Answer=completion" in text
    code, text = _cli(
        capsys, monkeypatch, "validate", str(path), "--columns", "question=prompt,answer=completion"
    )
    assert code == 0, text
    out = tmp_path / "out.jsonl"
    code, text = _cli(
        capsys,
        monkeypatch,
        "convert",
        str(path),
        "--columns",
        "prompt=Question",
        "--columns",
        "completion=Answer",
        "--to",
        "jsonl",
        "-o",
        str(out),
    )
    assert code == 0, text
    assert len(out.read_text().splitlines()) == 2
    code, text = _cli(capsys, monkeypatch, "validate", str(path), "--columns", "Question")
    assert code == 2 and "NAME=FIELD" in text


def test_validate_a_job_counts_with_its_local_model(
    tmp_path: Path,
    tokenizer_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _long(tmp_path / "long.jsonl")
    (tmp_path / "job.yaml").write_text(
        f"model: {tokenizer_dir}\ndata: long.jsonl\nmax_seq_length: 128\n"
    )
    code, text = _cli(capsys, monkeypatch, "validate", str(tmp_path / "job.yaml"))
    assert code == 2
    assert f"token lengths: tokenizer {tokenizer_dir}" in text
    assert "before max_seq_length 128" in text
