"""Reading raw rows from files, directories, globs, lists and Hugging Face datasets, streaming.

Every reader yields ``(source, row, problem)``: the row is whatever the file held at that place
(normally a dict) and ``problem`` is set instead when the place could not be read (bad JSON,
bad encoding, a line too long, ...). Readers never raise for bad content, so a validation pass
sees every bad line; they raise ``DataError`` only when the source itself cannot be opened.
"""

from __future__ import annotations

import csv
import glob
import json
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from tunesdk.data.records import Source
from tunesdk.data.report import Problem
from tunesdk.errors import DataError

RawRow = tuple[Source, Any, Problem | None]

#: file extensions read from directories and globs
EXTENSIONS = (".jsonl", ".json", ".csv", ".parquet")
#: one line (or CSV field) longer than this is reported instead of parsed, to bound memory
MAX_LINE_BYTES = 32 * 1024 * 1024

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UNDECODABLE = re.compile("[\udc80-\udcff]")
_SAVE_AS_UTF8 = "re-save the file as UTF-8 (e.g. `iconv -f UTF-16 -t UTF-8 in > out`)"


def resolve_paths(source: str | Path) -> list[Path]:
    """The data files a path, directory or glob names, sorted; DataError when there are none."""
    text = str(source)
    path = Path(text).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and _supported(p))
        if not files:
            raise DataError(
                f"directory has no data files ({', '.join(EXTENSIONS)})",
                where=text,
                fix="point at a directory holding .jsonl/.json/.csv/.parquet files",
            )
        return files
    if glob.has_magic(text):
        files = sorted(Path(p) for p in glob.glob(text, recursive=True) if _supported(Path(p)))
        if not files:
            raise DataError(
                "the glob matches no data files",
                where=text,
                fix=f"check the pattern; only {', '.join(EXTENSIONS)} files are read",
            )
        return files
    if _REMOTE.match(text):
        raise DataError(
            "remote data is not read on this machine (only the cluster that trains reads it)",
            where=text,
            fix="set `objective` in the job (it is otherwise inferred by reading the data) and run"
            " it with a launcher whose nodes read the URI (`--launcher skypilot`), or download the"
            " file and pass its local path",
        )
    raise DataError(
        "no such file or directory",
        where=text,
        fix="check the path (relative paths resolve against the current directory)",
    )


#: ``s3://``, ``gs://``, ``hf://``, ``https://``...: a URI this machine does not read as a path
_REMOTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _supported(path: Path) -> bool:
    return path.suffix.lower() in EXTENSIONS


def iter_file(path: Path) -> Iterator[RawRow]:
    """Rows of one file, by extension (``.json`` holding JSON Lines is read as JSONL)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _iter_csv(path)
    if suffix == ".parquet":
        return _iter_parquet(path)
    if suffix == ".json" and not _starts_with(path, b"["):
        return _iter_jsonl(path)
    if suffix == ".json":
        return _iter_json_array(path)
    if suffix == ".jsonl":
        return _iter_jsonl(path)
    return iter(
        [
            (
                Source(str(path), 0),
                None,
                Problem(
                    file=str(path),
                    message=f"unsupported file type {suffix or '(none)'}",
                    fix=f"use one of {', '.join(EXTENSIONS)}",
                ),
            )
        ]
    )


def iter_files(paths: Iterable[Path]) -> Iterator[RawRow]:
    for path in paths:
        yield from iter_file(path)


def iter_items(items: Iterable[Any], label: str) -> Iterator[RawRow]:
    """Rows of an in-memory sequence (list of dicts, ``datasets.Dataset``); line = 1-based index."""
    for number, item in enumerate(items, 1):
        yield Source(label, number), item, None


def _starts_with(path: Path, prefix: bytes) -> bool:
    with path.open("rb") as handle:
        head = handle.read(4096).lstrip(_UTF8_BOM).lstrip()
    return head.startswith(prefix)


def _file_problem(path: Path, message: str, fix: str, line: int | None = None) -> RawRow:
    return (
        Source(str(path), line or 0),
        None,
        Problem(file=str(path), line=line, message=message, fix=fix),
    )


def _encoding_problem(path: Path, head: bytes) -> RawRow | None:
    """A whole-file problem for empty, UTF-16 or binary files; None when it looks like text."""
    if not head:
        return _file_problem(path, "file is empty", "write one JSON object per line")
    if head.startswith(_UTF16_BOMS) or (len(head) > 1 and (head[0] == 0 or head[1] == 0)):
        return _file_problem(path, "file is UTF-16 encoded, not UTF-8", _SAVE_AS_UTF8)
    if b"\x00" in head:
        return _file_problem(
            path,
            "file is binary (it holds NUL bytes), not text",
            "point at the JSONL/CSV file itself; compressed or binary files are not read",
        )
    return None


def _iter_jsonl(path: Path) -> Iterator[RawRow]:
    name = str(path)
    loads = json.loads
    with path.open("rb") as handle:
        head = handle.read(4096)
        bad = _encoding_problem(path, head)
        if bad is not None:
            yield bad
            return
        handle.seek(len(_UTF8_BOM) if head.startswith(_UTF8_BOM) else 0)
        number = 0
        readline = handle.readline
        while True:
            raw = readline(MAX_LINE_BYTES)
            if not raw:
                break
            number += 1
            if len(raw) == MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while (chunk := readline(MAX_LINE_BYTES)) and not chunk.endswith(b"\n"):
                    pass
                yield _file_problem(
                    path,
                    f"line is longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB; not parsed",
                    "split or shorten this example; no backend trains on examples that long",
                    number,
                )
                continue
            try:
                row = loads(raw)
            except RecursionError:
                yield _file_problem(
                    path,
                    "JSON nested too deeply to read",
                    "flatten this example; no format nests more than a few levels",
                    number,
                )
                continue
            except UnicodeDecodeError as exc:
                yield _file_problem(
                    path,
                    f"line is not valid UTF-8 "
                    f"(byte {raw[exc.start]:#04x} at column {exc.start + 1})",
                    "re-save the file as UTF-8",
                    number,
                )
                continue
            except ValueError as exc:
                if not raw.strip():
                    continue
                yield _file_problem(path, _json_message(exc, raw), _json_fix(raw), number)
                continue
            yield Source(name, number), row, None


def _json_message(exc: ValueError, raw: bytes) -> str:
    position = getattr(exc, "pos", None)
    if position is None:
        return f"invalid JSON: {exc}"
    message = getattr(exc, "msg", str(exc))
    if message.startswith("Unterminated string") or position >= len(
        raw.decode("utf-8", "replace").rstrip()
    ):
        return "invalid JSON: the line ends before the JSON is complete (truncated?)"
    return f"invalid JSON at column {position + 1}: {message}"


def _json_fix(raw: bytes) -> str:
    if raw.lstrip().startswith((b"{", b"[")):
        return "each line must be one complete JSON object; repair or remove this line"
    return 'each line must be one JSON object like {"messages": [...]}; remove stray text'


def _iter_json_array(path: Path) -> Iterator[RawRow]:
    """A JSON array file. It is read whole (a JSON array cannot be streamed by line): use JSONL
    for big data."""
    name = str(path)
    raw = path.read_bytes()
    bad = _encoding_problem(path, raw[:4096])
    if bad is not None:
        yield bad
        return
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        yield _file_problem(path, "file is not valid UTF-8", "re-save the file as UTF-8", line)
        return
    del raw
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    line = 1 + text.count("\n", 0, pos)
    counted = pos
    size = len(text)
    while True:
        pos = _skip_space(text, pos)
        if pos >= size:
            yield _file_problem(
                path,
                "invalid JSON: the array is not closed (truncated?)",
                "end the file with ]",
                line,
            )
            return
        if text[pos] == "]":
            return
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            item, end = decoder.raw_decode(text, pos)
        except (ValueError, RecursionError) as exc:
            yield _file_problem(
                path,
                f"invalid JSON: {getattr(exc, 'msg', exc)}; the rest of the file is not read",
                "repair the JSON at this line (or convert the file to JSONL)",
                getattr(exc, "lineno", line),
            )
            return
        yield Source(name, line), item, None
        pos = _skip_space(text, end)
        if pos < size and text[pos] == ",":
            pos += 1
        elif pos < size and text[pos] != "]":
            line += text.count("\n", counted, pos)
            yield _file_problem(
                path,
                "invalid JSON: expected ',' or ']' between items",
                "separate array items with commas",
                line,
            )
            return


def _skip_space(text: str, pos: int) -> int:
    size = len(text)
    while pos < size and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _iter_csv(path: Path) -> Iterator[RawRow]:
    name = str(path)
    with path.open("rb") as probe:
        bad = _encoding_problem(path, probe.read(4096))
    if bad is not None:
        yield bad
        return
    csv.field_size_limit(min(sys.maxsize, MAX_LINE_BYTES))
    # undecodable bytes become lone surrogates, so one bad row is reported with its line
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        reader = csv.reader(handle)
        line = 0
        try:
            header = next(reader, None)
            if not header:
                yield _file_problem(
                    path, "CSV file has no header row", "put the column names on the first line"
                )
                return
            line = reader.line_num
            for cells in reader:
                start, line = line + 1, reader.line_num
                if not any(cell.strip() for cell in cells):
                    continue
                if any(_UNDECODABLE.search(cell) for cell in cells):
                    yield _file_problem(
                        path, "row is not valid UTF-8", "re-save the file as UTF-8", start
                    )
                    continue
                if len(cells) != len(header):
                    yield _file_problem(
                        path,
                        f"row has {len(cells)} field(s), the header has {len(header)}",
                        "quote fields that contain commas or newlines",
                        start,
                    )
                    continue
                yield Source(name, start), dict(zip(header, cells, strict=True)), None
        except csv.Error as exc:
            yield _file_problem(
                path,
                f"invalid CSV: {exc}; the rest is not read",
                "check quoting around this line",
                line + 1,
            )


def _iter_parquet(path: Path) -> Iterator[RawRow]:
    """Parquet rows in batches (bounded memory); line = 1-based row number."""
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise DataError(
            "reading Parquet needs pyarrow",
            where=str(path),
            fix="pip install 'tunesdk[parquet]'",
        ) from exc
    name = str(path)
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        yield _file_problem(
            path,
            f"not a readable Parquet file ({exc})",
            "check the file is a complete Parquet file",
        )
        return
    number = 0
    for batch in parquet.iter_batches(batch_size=1024):
        for row in batch.to_pylist():
            number += 1
            yield Source(name, number), row, None
