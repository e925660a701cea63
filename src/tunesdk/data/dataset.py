"""``Dataset``: a lazy, re-streamable view of training data (a source plus transforms).

Reading, validating, counting and converting stream the source each time with bounded memory;
``split`` keeps only the chosen eval positions, ``dedupe`` one digest per distinct example, and
``mix`` materializes the sampled records.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterator, Mapping
from itertools import islice
from pathlib import Path
from typing import Any

from tunesdk.data import convert, formats, rules
from tunesdk.data.records import Record, Source
from tunesdk.data.report import Problem, Report, RowTally
from tunesdk.data.sources import RawRow, iter_files, iter_items, resolve_paths
from tunesdk.data.stats import Stats, compute_stats
from tunesdk.data.tokens import counter_for
from tunesdk.data.validation import make_checker
from tunesdk.errors import DataError

#: one step of the pipeline: (position, record or None, problem or None)
Item = tuple[int, Record | None, Problem | None]
Step = Callable[[Iterator[Item]], Iterator[Item]]

_VALIDATE_HINT = "run Dataset.validate() (or `tunesdk validate FILE`) to list every problem"


class Dataset:
    """Training data in any supported format, read lazily. Build one with ``Dataset.load``."""

    def __init__(
        self,
        *,
        name: str,
        format: str,
        rows: Callable[[], Iterator[RawRow]] | None = None,
        records: list[Record] | None = None,
        columns: dict[str, str] | None = None,
        explicit_format: bool = False,
        detected_at: Source | None = None,
        steps: tuple[Step, ...] = (),
    ) -> None:
        self.name = name
        self.format = format
        self._rows = rows
        self._records = records
        self._columns = columns
        self._explicit = explicit_format
        self._detected_at = detected_at
        self._steps = steps
        self._length: int | None = None

    # ---- construction ---------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        source: Any,
        format: str | None = None,
        columns: dict[str, str] | None = None,
    ) -> Dataset:
        """Open training data: a path (JSONL, JSON, CSV, Parquet), a directory or glob of them,
        a list of dicts, a ``datasets.Dataset``, a ``Dataset`` (returned as is), or a mapping
        ``{"path": ..., "columns": {...}, "format": ...}`` (what a job file's ``data:`` may hold).

        ``format`` forces one of ``FORMATS`` instead of detecting it; ``columns`` renames input
        columns to the fields a format reads, e.g. ``{"Question": "prompt", "Answer":
        "completion"}`` (either direction; names match case-insensitively). Columns whose names
        differ from a format's fields only in case (``Prompt``) are matched without a mapping.
        """
        if isinstance(source, Dataset):
            return source
        if isinstance(source, Mapping) and "Dataset" not in type(source).__name__:
            source, format, columns = _source_spec(source, format, columns)
        if format is not None and format not in formats.KINDS:
            raise DataError(
                f"unknown data format {format!r}",
                fix=f"use one of {', '.join(formats.FORMATS)}, or leave it unset",
            )
        mapping = _columns(columns)
        rows, name = _row_reader(source)
        if format is not None:
            return cls(name=name, format=format, rows=rows, columns=mapping, explicit_format=True)
        detected, where, mapping = _detect(rows, mapping, name)
        return cls(name=name, format=detected, rows=rows, columns=mapping, detected_at=where)

    @classmethod
    def from_records(cls, records: list[Record], name: str = "<records>") -> Dataset:
        """A dataset over records already in memory (what ``mix`` returns)."""
        if not records:
            raise DataError("no records given", fix="give at least one record")
        return cls(name=name, format=_canonical_format(records[0]), records=records)

    def _derive(self, step: Step, name: str | None = None) -> Dataset:
        return Dataset(
            name=name or self.name,
            format=self.format,
            rows=self._rows,
            records=self._records,
            columns=self._columns,
            explicit_format=self._explicit,
            detected_at=self._detected_at,
            steps=(*self._steps, step),
        )

    # ---- properties -----------------------------------------------------------------------------

    @property
    def kind(self) -> str:
        """The objective the data suits: ``sft``, ``dpo`` (preference pairs) or ``text``."""
        return formats.KINDS[self.format]

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, format={self.format!r}, kind={self.kind!r})"

    # ---- the pipeline ---------------------------------------------------------------------------

    def _parsed(self) -> Iterator[Item]:
        if self._records is not None:
            yield from ((i, record, None) for i, record in enumerate(self._records))
            return
        assert self._rows is not None
        fmt, columns, explicit = self.format, self._columns, self._explicit
        parse, detect = formats.parse, formats.detect
        for position, (source, row, problem) in enumerate(self._rows()):
            if problem is not None:
                yield position, None, problem
                continue
            if columns:
                row = formats.rename_columns(row, columns)
            try:
                if (
                    not explicit
                    and (found := detect(row)) != fmt
                    and (found, fmt) not in formats.SAME_FAMILY
                ):
                    if found is None:
                        raise formats.undetectable(row)
                    yield position, None, self._mixed(source, found)
                    continue
                yield position, parse(row, fmt, source), None
            except formats.RowError as exc:
                yield (
                    position,
                    None,
                    Problem(
                        file=source.file,
                        line=source.line,
                        field=exc.field,
                        message=exc.message,
                        fix=exc.fix,
                    ),
                )

    def _mixed(self, source: Source, found: str) -> Problem:
        return Problem(
            file=source.file,
            line=source.line,
            message=f"mixed formats: this row is {found}, the data is {self.format} "
            f"(detected at {self._detected_at})",
            fix=f"convert this row to {self.format} or move it to its own file; providers "
            "reject files that mix formats",
        )

    def _items(self) -> Iterator[Item]:
        items = self._parsed()
        for step in self._steps:
            items = step(items)
        return items

    def __iter__(self) -> Iterator[Record]:
        """Canonical records; raises ``DataError`` at the first row that cannot be read."""
        for _, record, problem in self._items():
            if problem is not None:
                raise DataError(
                    problem.message,
                    where=problem.where,
                    fix=f"{problem.fix}; {_VALIDATE_HINT}" if problem.fix else _VALIDATE_HINT,
                )
            assert record is not None
            yield record

    def __len__(self) -> int:
        """Number of examples (rows, readable or not); counted once by streaming, then cached."""
        if self._length is None:
            if self._records is not None and not self._steps:
                self._length = len(self._records)
            elif not self._steps and self._rows is not None:
                self._length = sum(1 for _ in self._rows())
            else:
                self._length = sum(1 for _ in self._items())
        return self._length

    def head(self, n: int = 5) -> list[Record]:
        """The first ``n`` records."""
        return list(islice(iter(self), n))

    # ---- checks and numbers ---------------------------------------------------------------------

    def validate(
        self,
        backend: str | None = None,
        max_seq_length: int | None = None,
        tokenizer: Any = None,
        min_examples: int | None = None,
        strict: bool = False,
        objective: str | None = None,
        duplicates: bool = False,
    ) -> Report:
        """Every problem in the data, for ``backend``'s rules (generic rules when None).

        With a tokenizer, each example is also rendered with it (template failures are errors)
        and measured against ``max_seq_length``; with ``max_seq_length`` but no tokenizer the
        lengths are approximate (4 characters per token), and the report says so. ``objective`` (``sft`` / ``dpo``): the data must
        suit it (preference pairs for DPO, anything else for SFT). ``duplicates=True`` adds a
        warning for exact duplicate examples (one 64-bit digest per example is kept during the
        pass). ``strict=True`` raises ``DataError`` carrying
        the report when it has errors.
        """
        checker = make_checker(
            self,
            backend,
            counter=counter_for(tokenizer)
            if tokenizer is not None or max_seq_length is not None
            else None,
            max_seq_length=max_seq_length,
            min_examples=min_examples,
            objective=objective,
            duplicates=duplicates,
        )
        for _, record, problem in self._items():
            checker.feed(record, problem)
        report = checker.finish()
        self._length = report.examples
        if strict:
            report.raise_for_problems()
        return report

    def stats(
        self, tokenizer: Any = None, max_seq_length: int | None = None, epochs: int = 1
    ) -> Stats:
        """Counts, turns, token lengths, truncation and billable tokens (tokens x epochs)."""
        counter = counter_for(tokenizer)
        invalid = 0

        def readable() -> Iterator[Record]:
            nonlocal invalid
            for _, record, _problem in self._items():
                if record is None:
                    invalid += 1
                else:
                    yield record

        stats = compute_stats(
            readable(),
            counter,
            source=self.name,
            format=self.format,
            kind=self.kind,
            max_seq_length=max_seq_length,
            epochs=epochs,
        )
        stats.invalid_rows = invalid
        return stats

    # ---- output ---------------------------------------------------------------------------------

    def to(self, fmt: str, path: str | Path, *, check: bool = True) -> Path:
        """Write the data as ``fmt`` JSONL at ``path``, streaming, and return the path.

        ``fmt``: openai, together, fireworks, trl, unsloth, axolotl, or jsonl (canonical,
        lossless). With ``check`` (the default) the same pass validates the data under that
        backend's rules and raises ``DataError`` carrying the full report instead of writing a
        file the backend would reject; ``jsonl`` only needs every row to be readable. Nothing
        is left at ``path`` when it raises.
        """
        key = fmt.lower()
        convert.check_output_format(key, self.kind)
        if not check:
            convert.write_jsonl(iter(self), key, path)
            return Path(path)
        checker = make_checker(self, None if key == "jsonl" else key)
        only_readable = key == "jsonl"

        def checked() -> Iterator[Record]:
            for _, record, problem in self._items():
                if only_readable:
                    if problem is not None:
                        checker.report.add(problem)
                else:
                    checker.feed(record, problem)
                if record is not None:
                    yield record
            report = checker.finish() if not only_readable else checker.report
            report.raise_for_problems()

        convert.write_jsonl(checked(), key, path)
        return Path(path)

    def to_hf(
        self,
        tokenizer: Any = None,
        max_seq_length: int | None = None,
        train_on_inputs: bool = False,
    ) -> Any:
        """A ``datasets.Dataset`` in TRL's shape (``messages``; ``prompt``/``chosen``/``rejected``;
        ``prompt``/``completion``; ``text``). With a tokenizer, SFT and text data come
        pre-tokenized with assistant-only ``labels`` (see ``templates.render_with_mask``)."""
        from tunesdk.data.hf import build_hf_dataset

        return build_hf_dataset(iter(self), tokenizer, max_seq_length, train_on_inputs)

    # ---- transforms -----------------------------------------------------------------------------

    def split(self, eval_fraction: float, seed: int = 0) -> tuple[Dataset, Dataset]:
        """(train, eval): a deterministic random ``eval_fraction`` of the examples held out.

        The halves are named ``train split F of NAME`` and ``eval split F of NAME``."""
        if not 0 < eval_fraction < 1:
            raise DataError(
                f"eval_fraction must be between 0 and 1, got {eval_fraction}",
                fix="use e.g. 0.1 to hold out 10% of the examples",
            )
        total = len(self)
        if total < 2:
            raise DataError(
                f"cannot split {total} example(s)",
                where=self.name,
                fix="give at least 2 examples, or pass eval data separately",
            )
        size = min(total - 1, max(1, round(total * eval_fraction)))
        held_out = frozenset(random.Random(seed).sample(range(total), size))
        # the halves are named, so a whole-dataset problem says which one (rows keep their line)
        label = f"split {eval_fraction} of {self.name}"
        return (
            self._derive(_select(held_out, keep=False), f"train {label}"),
            self._derive(_select(held_out, keep=True), f"eval {label}"),
        )

    def dedupe(self) -> Dataset:
        """Drop exact duplicates (same content, wherever it came from), keeping the first."""
        return self._derive(_dedupe)

    def exclude(self, positions: frozenset[int]) -> Dataset:
        """The dataset without the examples at ``positions`` (0-based, as in iteration order)."""
        return self._derive(_select(positions, keep=False))


def _select(positions: frozenset[int], keep: bool) -> Step:
    def step(items: Iterator[Item]) -> Iterator[Item]:
        out = 0
        for position, record, problem in items:
            if (position in positions) == keep:
                yield out, record, problem
                out += 1

    return step


def _dedupe(items: Iterator[Item]) -> Iterator[Item]:
    seen: set[bytes] = set()
    out = 0
    for _, record, problem in items:
        if record is not None:
            digest = example_digest(record)
            if digest in seen:
                continue
            seen.add(digest)
        yield out, record, problem
        out += 1


def example_digest(record: Record) -> bytes:
    """A 16-byte digest of a record's content (not its source or unmodelled fields)."""
    body = convert.to_canonical(record)
    for key in record.meta:
        body.pop(key, None)
    text = json.dumps(body, sort_keys=True, ensure_ascii=False)
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def _canonical_format(record: Record) -> str:
    """The format ``to("jsonl")`` writes a record in (what loading it back detects)."""
    kind = rules.kind_of(record)
    if kind == "text":
        return "text"
    if kind == "dpo":
        return "openai_dpo" if getattr(record, "chat", True) else "preference"
    if kind == "prompt":
        return "openai_rft" if getattr(record, "chat", True) else "prompt_only"
    if kind == "kto":
        return "kto"
    return "openai_chat" if getattr(record, "chat", True) else "prompt_completion"


def _row_reader(source: Any) -> tuple[Callable[[], Iterator[RawRow]], str]:
    if isinstance(source, str | Path):
        paths = resolve_paths(source)
        return (lambda: iter_files(paths)), str(source)
    if isinstance(source, list | tuple):
        items = list(source)
        return (lambda: iter_items(items, "<list>")), "<list>"
    if type(source).__name__ in ("DatasetDict", "IterableDatasetDict"):
        raise DataError(
            f"a {type(source).__name__} holds several splits ({', '.join(source)})",
            fix="pick one split, e.g. Dataset.load(data['train'])",
        )
    if type(source).__module__.split(".")[0] == "datasets" and hasattr(source, "__iter__"):
        return (lambda: iter_items(source, "<datasets.Dataset>")), "<datasets.Dataset>"
    raise DataError(
        f"cannot read training data from a {type(source).__name__}",
        fix="give a path (JSONL, JSON, CSV, Parquet, a directory or glob), a list of dicts, "
        "a datasets.Dataset or a tunesdk Dataset",
    )


def _source_spec(
    spec: Mapping[Any, Any], format: str | None, columns: dict[str, str] | None
) -> tuple[Any, str | None, dict[str, str] | None]:
    """(path, format, columns) of a ``{"path": ..., "columns": ..., "format": ...}`` mapping."""
    unknown = sorted(str(key) for key in spec if key not in ("path", "columns", "format"))
    if unknown or "path" not in spec:
        problem = f"unknown key(s) {', '.join(unknown)}" if unknown else "no 'path'"
        raise DataError(
            f"data source mapping has {problem}",
            where="data",
            fix="write data as a path, or as {path: FILE, columns: {Question: prompt}, "
            "format: FORMAT} (columns and format optional)",
        )
    given = spec.get("columns")
    if given is not None and not isinstance(given, Mapping):
        raise DataError(
            f"columns is a {type(given).__name__}, not a mapping",
            where="data.columns",
            fix="write columns as {Question: prompt, Answer: completion}",
        )
    merged = {**(dict(given) if given else {}), **(columns or {})}
    return spec["path"], format or spec.get("format"), merged or None


def _columns(columns: Mapping[str, str] | None) -> dict[str, str] | None:
    if not columns:
        return None
    try:
        return formats.normalize_columns(dict(columns))
    except formats.RowError as exc:
        raise DataError(exc.message, where="columns", fix=exc.fix) from None


def _detect(
    rows: Callable[[], Iterator[RawRow]], columns: dict[str, str] | None, name: str
) -> tuple[str, Source, dict[str, str] | None]:
    """(format, where it was detected, the column mapping to use) from the first row that has a
    format; DataError (with a report, a file-wide problem once) when no row has one."""
    report = Report(source=name)
    tally = RowTally()
    first_keys: list[str] | None = None
    for source, row, problem in rows():
        tally.row(source.file)
        if problem is not None:
            tally.problem(problem)
            report.add(problem)
            continue
        if first_keys is None and isinstance(row, dict):
            first_keys = [str(key) for key in row]
        renamed = formats.rename_columns(row, columns) if columns else row
        found = formats.detect(renamed)
        if found is None and (folded := formats.case_folded(renamed)) is not None:
            columns = {**folded, **(columns or {})}
            found = formats.detect(formats.rename_columns(row, columns))
        if found == "openai_rft" and _answered_row_follows(rows, columns):
            found = "openai_chat"  # SFT chat whose first row lacks its answer: validation says so
        if found is not None:
            return found, source, columns
        error = formats.undetectable(renamed)
        found_problem = Problem(
            file=source.file, line=source.line, message=error.message, fix=error.fix
        )
        tally.problem(found_problem)
        report.add(found_problem)
    if not report.problems:
        raise DataError(
            "no examples",
            where=name,
            report=report,
            fix="give at least one example (one JSON object per line)",
        )
    missing = _missing_columns(columns, first_keys)
    if missing:
        raise DataError(
            f"column(s) {', '.join(missing)} named in columns= are not in the data "
            f"(its columns: {', '.join(first_keys or []) or 'none'})",
            where=name,
            fix="use the names the file has (matching ignores case)",
        )
    tally.collapse(report)
    first = report.problems[0]
    if len(report.problems) == 1:
        raise DataError(first.message, where=first.where, report=report, fix=first.fix)
    raise DataError(
        f"cannot detect the data format: no row matches a known format; first problem at "
        f"{first.where}: {first.message}",
        where=name,
        report=report,
        fix=first.fix,
    )


def _answered_row_follows(
    rows: Callable[[], Iterator[RawRow]], columns: dict[str, str] | None
) -> bool:
    """Whether, in the first rows (a bounded look), chat with its answer is at least as common
    as chat without: then the file is SFT chat whose first row lacks its answer (validation says
    so), not prompt-only data with a stray answered row (its parser says so)."""
    answered = prompts = 0
    for _, row, problem in islice(rows(), 65):
        if problem is None:
            found = formats.detect(formats.rename_columns(row, columns) if columns else row)
            answered += found == "openai_chat"
            prompts += found == "openai_rft"
    return answered >= prompts


def _missing_columns(columns: dict[str, str] | None, keys: list[str] | None) -> list[str]:
    if not columns or keys is None:
        return []
    present = {key.lower() for key in keys}
    return [theirs for theirs, ours in columns.items() if theirs not in present and theirs != ours]
