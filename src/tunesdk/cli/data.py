"""Commands over data files and the job schema: schema, validate, stats, convert."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from tunesdk.cli.common import app, out


@app.command()
def schema() -> None:
    """Print the job file's JSON Schema."""
    from tunesdk.job import Job

    print(json.dumps(Job.model_json_schema(), indent=2))


@app.command()
def validate(
    file: Annotated[str, typer.Argument(help="data file, directory or glob")],
    backend: Annotated[str | None, typer.Option("--backend", "-b")] = None,
    max_seq_length: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Check a data file with the rules of BACKEND; lists every problem with file and line."""
    from tunesdk.data import Dataset

    report = Dataset.load(file).validate(backend=backend, max_seq_length=max_seq_length)
    print(report.render())
    if not report.ok:
        raise typer.Exit(2)


@app.command()
def stats(file: Annotated[str, typer.Argument(help="data file, directory or glob")]) -> None:
    """Counts, turns and token lengths of a data file."""
    from tunesdk.data import Dataset

    print(Dataset.load(file).stats().render())


@app.command()
def convert(
    file: Annotated[str, typer.Argument(help="data file, directory or glob")],
    to: Annotated[
        str, typer.Option("--to", help="openai, together, fireworks, trl, axolotl, jsonl")
    ],
    output: Annotated[Path, typer.Option("-o", "--output")],
) -> None:
    """Write a data file in a backend's native format."""
    from tunesdk.data import Dataset

    path = Dataset.load(file).to(to, output)
    out.print(f"wrote {path}")
