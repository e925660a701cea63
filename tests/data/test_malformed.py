"""A corpus of broken files: each gives a clean DataError or a problem with its line, never a
traceback of some other exception."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tunesdk.data import Dataset, sources
from tunesdk.errors import DataError

GOOD = json.dumps(
    {"messages": [{"role": "user", "content": "Ça va?"}, {"role": "assistant", "content": "Oui"}]},
    ensure_ascii=False,
)


def _bytes(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def corpus(tmp_path: Path) -> dict[str, Path]:
    rng = random.Random(0)
    good = GOOD.encode()
    return {
        "empty": _bytes(tmp_path, "empty.jsonl", b""),
        "blank lines": _bytes(tmp_path, "blank.jsonl", b"\n  \n\n"),
        "utf-16": _bytes(tmp_path, "utf16.jsonl", (GOOD + "\n").encode("utf-16")),
        "utf-16 no bom": _bytes(tmp_path, "utf16le.jsonl", (GOOD + "\n").encode("utf-16-le")),
        "latin-1 line": _bytes(tmp_path, "latin1.jsonl", good + b"\n" + GOOD.encode("latin-1")),
        "binary with NULs": _bytes(
            tmp_path, "bin.jsonl", bytes(rng.randrange(256) for _ in range(5000))
        ),
        "binary no NULs": _bytes(
            tmp_path, "bin2.jsonl", bytes(rng.randrange(128, 256) for _ in range(5000))
        ),
        "truncated": _bytes(tmp_path, "trunc.jsonl", good + b"\n" + good[: len(good) // 2]),
        "deep nesting": _bytes(tmp_path, "deep.jsonl", good + b"\n" + b"[" * 100_000),
        "null row": _bytes(tmp_path, "null.jsonl", b"null\n"),
        "wrong types": _bytes(tmp_path, "types.jsonl", b'{"messages": "hello"}\n'),
        "json array cut": _bytes(tmp_path, "cut.json", b'[{"text": "a"}, {"text": '),
        "json array garbage": _bytes(tmp_path, "garbage.json", b'[{"text": "a"} {"text": "b"}]'),
        "csv ragged": _bytes(tmp_path, "ragged.csv", b'text\n"a"\n"b","c"\n'),
        "csv empty": _bytes(tmp_path, "empty.csv", b""),
        "csv latin-1": _bytes(tmp_path, "latin.csv", "text\nok\nçà\n".encode("latin-1")),
        "parquet corrupt": _bytes(tmp_path, "bad.parquet", b"PAR1 not really parquet"),
        "unsupported": _bytes(tmp_path, "notes.txt", b"hello"),
    }


def outcome(path: Path, tmp_path: Path) -> str:
    """'load' / 'validate' / 'ok': where the problem surfaced. Any other exception fails."""
    try:
        ds = Dataset.load(path)
    except DataError as exc:
        assert str(exc) and exc.fix
        return "load"
    report = ds.validate()
    if report.ok:
        return "ok"
    assert all(p.fix for p in report.errors)
    with pytest.raises(DataError):
        ds.to("jsonl", tmp_path / "out.jsonl")
    return "validate"


def test_every_malformed_file_gives_a_clean_error(tmp_path):
    seen = {name: outcome(path, tmp_path) for name, path in corpus(tmp_path).items()}
    assert seen == {
        "empty": "load",
        "blank lines": "load",
        "utf-16": "load",
        "utf-16 no bom": "load",
        "latin-1 line": "validate",
        "binary with NULs": "load",
        "binary no NULs": "load",
        "truncated": "validate",
        "deep nesting": "validate",
        "null row": "load",
        "wrong types": "validate",
        "json array cut": "validate",
        "json array garbage": "validate",
        "csv ragged": "validate",
        "csv empty": "load",
        "csv latin-1": "validate",
        "parquet corrupt": "load",
        "unsupported": "load",
    }


def test_messages_name_the_cause(tmp_path):
    files = corpus(tmp_path)

    def load_error(name: str) -> str:
        with pytest.raises(DataError) as caught:
            Dataset.load(files[name])
        return str(caught.value)

    assert "file is empty" in load_error("empty")
    assert "UTF-16" in load_error("utf-16") and "iconv" in load_error("utf-16")
    assert "binary" in load_error("binary with NULs")
    latin = Dataset.load(files["latin-1 line"]).validate().problems
    assert [(p.line, p.message) for p in latin] == [
        (2, "line is not valid UTF-8 (byte 0xc7 at column 44)")
    ]
    truncated = Dataset.load(files["truncated"]).validate().problems
    assert [(p.line, "truncated" in p.message) for p in truncated] == [(2, True)]
    deep = Dataset.load(files["deep nesting"]).validate().problems
    assert [(p.line, p.message) for p in deep] == [(2, "JSON nested too deeply to read")]
    ragged = Dataset.load(files["csv ragged"]).validate().problems
    assert [(p.line, p.message) for p in ragged] == [(3, "row has 2 field(s), the header has 1")]


def test_utf8_bom_and_crlf_are_fine(tmp_path):
    path = _bytes(tmp_path, "bom.jsonl", b"\xef\xbb\xbf" + (GOOD + "\r\n").encode() * 2)
    report = Dataset.load(path).validate()
    assert report.ok and report.examples == 2


def test_huge_line_is_skipped_and_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "MAX_LINE_BYTES", 4096)
    huge = json.dumps({"text": "x" * 10_000})
    path = _bytes(tmp_path, "huge.jsonl", f'{{"text": "a"}}\n{huge}\n{{"text": "b"}}\n'.encode())
    ds = Dataset.load(path)
    report = ds.validate()
    assert [(p.line, "longer than" in p.message) for p in report.problems] == [(2, True)]
    assert report.examples == 3
    with pytest.raises(DataError, match=r"huge.jsonl:2: line is longer than"):
        list(ds)


def test_unpaired_surrogate_is_named_when_writing(tmp_path):
    path = _bytes(tmp_path, "s.jsonl", b'{"text": "cut emoji \\ud83d here"}\n')
    with pytest.raises(DataError) as caught:
        Dataset.load(path).to("jsonl", tmp_path / "out.jsonl")
    assert f"{path}:1" in str(caught.value) and "surrogate" in str(caught.value)
    assert not (tmp_path / "out.jsonl").exists()
