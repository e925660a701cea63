"""``tunesdk clean``: the fixes `validate` suggests for duplicates and train/eval overlap, as a
command. It writes a new file (never the input) through the public data API: ``Dataset.dedupe()``,
``Dataset.exclude()`` and ``tunesdk.data.decontaminate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tunesdk.cli.common import app, out
from tunesdk.cli.data import ColumnsOpt, DataFile, FormatOpt, _job_or_none, _source
from tunesdk.errors import DataError


@app.command()
def clean(
    file: DataFile,
    output: Annotated[
        Path, typer.Option("-o", "--output", help="where to write the cleaned data (a new file)")
    ],
    drop_overlap_with: Annotated[
        str | None,
        typer.Option(
            "--drop-overlap-with",
            metavar="EVAL",
            help="eval data: drop training examples that copy it or share an N-word sequence "
            "with it (default for a job file: its eval_data)",
        ),
    ] = None,
    keep_duplicates: Annotated[
        bool, typer.Option("--keep-duplicates", help="keep exact duplicates (dropped by default)")
    ] = False,
    ngram: Annotated[
        int, typer.Option("--ngram", metavar="N", min=1, help="words in an overlapping sequence")
    ] = 13,
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="output format: jsonl (canonical), openai, together, fireworks, trl, axolotl",
        ),
    ] = "jsonl",
    columns: ColumnsOpt = None,
    format: FormatOpt = None,
) -> None:
    """Drop exact duplicates and training examples that overlap eval data; write the rest.

    Keeps the first of each set of duplicates and the order of the rest. With
    --drop-overlap-with EVAL, a training example goes when it is an exact copy of an eval
    example or shares N consecutive words (13 by default, lower-cased, punctuation ignored)
    with one. Prints what it dropped, with file and line, then the path it wrote."""
    from tunesdk.data import Dataset, decontaminate
    from tunesdk.data.dataset import example_digest

    job = _job_or_none(file)
    source: Any = job.data if job is not None else _source(file, columns, format)
    eval_source: Any = drop_overlap_with
    if eval_source is None and job is not None:
        eval_source = job.eval_data
    _refuse_overwriting(output, [source, eval_source])

    train = Dataset.load(source)
    total = len(train)
    deduped = train if keep_duplicates else train.dedupe()
    duplicates = total - len(deduped)
    lines = [] if keep_duplicates else [f"dropped {duplicates} exact duplicate(s)"]
    kept = deduped
    if eval_source is not None:
        eval_digests = {example_digest(record) for record in Dataset.load(eval_source)}
        copies = frozenset(
            position
            for position, record in enumerate(deduped)
            if example_digest(record) in eval_digests
        )
        without_copies = deduped.exclude(copies)
        found = decontaminate(without_copies, eval_source, n=ngram, drop=True)
        kept = found.dataset
        lines.append(f"dropped {len(copies)} exact copy(ies) of eval examples")
        lines.append(
            f"dropped {found.contaminated} example(s) sharing a {found.n}-word sequence with "
            "eval examples"
        )
        lines += found.render().splitlines()[1:]  # train file:line ~ eval file:line "words"
    path = kept.to(to, output)
    lines.append(f"kept {len(kept)} of {total} example(s); wrote {path}")
    out.print("\n".join(lines), soft_wrap=True)


def _refuse_overwriting(output: Path, sources: list[Any]) -> None:
    """The output may not be one of the inputs: they are read while it is written."""
    target = output.expanduser().resolve()
    for source in sources:
        path = source.get("path") if isinstance(source, dict) else source
        if isinstance(path, str | Path) and Path(path).expanduser().resolve() == target:
            raise DataError(
                f"the output {output} is also an input",
                where="-o/--output",
                fix="write to a new file, e.g. -o " + target.with_stem(target.stem + ".clean").name,
            )


__all__ = ["clean"]
