"""Commands over data files and the job schema: schema, validate, stats, convert.

``validate`` and ``stats`` take a data file or a job file: for a job they check its data as the
job uses it (eval data or the eval split, the objective, max_seq_length) and count tokens with
the job's model when it is a local folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from tunesdk.cli.common import app, err, out

DataFile = Annotated[
    str, typer.Argument(help="data file, directory or glob — or a job YAML/JSON file")
]
TokenizerOpt = Annotated[
    str | None,
    typer.Option(
        "--tokenizer",
        help="count real tokens: a tokenizer/model folder, a cached Hugging Face id, or an "
        "OpenAI model/tiktoken encoding (default: a job's local model, else ~4 chars/token)",
    ),
]
ColumnsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--columns",
        metavar="FROM=TO",
        help="map columns to fields, e.g. Question=prompt,Answer=completion "
        "(either direction; names match case-insensitively)",
    ),
]
FormatOpt = Annotated[
    str | None, typer.Option("--format", help="force an input format instead of detecting it")
]


@app.command()
def schema() -> None:
    """Print the job file's JSON Schema."""
    from tunesdk.job import Job

    print(json.dumps(Job.model_json_schema(), indent=2))


@app.command()
def validate(
    file: DataFile,
    backend: Annotated[
        str | None, typer.Option("--backend", "-b", help="whose data rules (default: generic)")
    ] = None,
    max_seq_length: Annotated[
        int | None, typer.Option(help="warn about examples longer than this many tokens")
    ] = None,
    tokenizer: TokenizerOpt = None,
    columns: ColumnsOpt = None,
    format: FormatOpt = None,
    eval_split: Annotated[
        float | None,
        typer.Option(help="check both halves of this split, as a job with eval_split does"),
    ] = None,
) -> None:
    """Check data with BACKEND's rules: every problem with file and line, duplicates, and
    train/eval overlap. Exits 2 when there are errors."""
    from tunesdk.data.preflight import check_training_data

    job = _job_or_none(file)
    if job is not None:
        rules = _rules(backend)
        checked = check_training_data(
            job.data,
            eval_data=job.eval_data,
            eval_split=job.eval_split if eval_split is None else eval_split,
            seed=job.seed,
            backend=rules,
            max_seq_length=max_seq_length or job.max_seq_length,
            objective=job.objective or job.infer_objective(),
            tokenizer=_tokenizer(tokenizer, job, backend),
            ngram_limit=None,
        )
    else:
        checked = check_training_data(
            _source(file, columns, format),
            eval_split=eval_split,
            backend=backend,
            max_seq_length=max_seq_length,
            tokenizer=_tokenizer(tokenizer, None, backend),
            ngram_limit=None,
        )
    print(checked.render())
    if not checked.ok:
        raise typer.Exit(2)


@app.command()
def stats(
    file: DataFile,
    tokenizer: TokenizerOpt = None,
    max_seq_length: Annotated[
        int | None, typer.Option(help="count examples longer than this many tokens")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="epochs, for billable tokens")] = None,
    columns: ColumnsOpt = None,
    format: FormatOpt = None,
) -> None:
    """Counts, turns and token lengths (real tokens with --tokenizer, else ~4 chars/token)."""
    from tunesdk.data import Dataset

    job = _job_or_none(file)
    if job is not None:
        dataset = Dataset.load(job.data)
        seq = max_seq_length or job.max_seq_length
        result = dataset.stats(
            tokenizer=_tokenizer(tokenizer, job, None),
            max_seq_length=seq,
            epochs=epochs or job.epochs,
        )
    else:
        dataset = Dataset.load(_source(file, columns, format))
        result = dataset.stats(
            tokenizer=_tokenizer(tokenizer, None, None),
            max_seq_length=max_seq_length,
            epochs=epochs or 1,
        )
    print(result.render())


@app.command()
def convert(
    file: Annotated[str, typer.Argument(help="data file, directory or glob")],
    to: Annotated[
        str, typer.Option("--to", help="openai, together, fireworks, trl, axolotl, jsonl")
    ],
    output: Annotated[Path, typer.Option("-o", "--output")],
    columns: ColumnsOpt = None,
    format: FormatOpt = None,
) -> None:
    """Write a data file in a backend's native format."""
    from tunesdk.data import Dataset

    path = Dataset.load(_source(file, columns, format)).to(to, output)
    out.print(f"wrote {path}")


# ---- helpers ------------------------------------------------------------------------------------


def parse_columns(values: list[str] | None) -> dict[str, str] | None:
    """``["Question=prompt,Answer=completion"]`` → ``{"Question": "prompt", "Answer": ...}``."""
    if not values:
        return None
    mapping: dict[str, str] = {}
    for value in values:
        for pair in value.split(","):
            if not pair.strip():
                continue
            theirs, sep, ours = pair.partition("=")
            if not sep or not theirs.strip() or not ours.strip():
                raise typer.BadParameter(
                    f"{pair!r} is not NAME=FIELD; e.g. --columns Question=prompt,Answer=completion",
                    param_hint="--columns",
                )
            mapping[theirs.strip()] = ours.strip()
    return mapping


def _source(file: str, columns: list[str] | None, format: str | None) -> Any:
    mapping = parse_columns(columns)
    if not mapping and format is None:
        return file
    spec: dict[str, Any] = {"path": file}
    if mapping:
        spec["columns"] = mapping
    if format is not None:
        spec["format"] = format
    return spec


def _job_or_none(file: str) -> Any:
    """The Job when ``file`` is a job file (YAML, or JSON holding model and data), else None."""
    path = Path(file)
    suffix = path.suffix.lower()
    if not path.is_file() or suffix not in (".yaml", ".yml", ".json"):
        return None
    if suffix == ".json":
        try:
            head = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None
        if not (isinstance(head, dict) and "model" in head and "data" in head):
            return None
    from tunesdk.job import Job

    return Job.from_yaml(path)


def _rules(backend: str | None) -> str | None:
    """The data rules a backend validates with (local engines without their own: generic)."""
    from tunesdk.data.rules import RULES

    return backend if backend in RULES else None


def _tokenizer(spec: str | None, job: Any, backend: str | None) -> Any:
    """The tokenizer to count with: ``--tokenizer``, else a job's local model folder, else None
    (the approximation, which reports say)."""
    from tunesdk.data.tokens import load_tokenizer

    if spec:
        return load_tokenizer(spec)
    if job is None:
        return None
    model = job.model_for(backend) if backend else job.model_name
    if Path(model).is_dir() and (
        (Path(model) / "tokenizer.json").exists()
        or (Path(model) / "tokenizer_config.json").exists()
    ):
        err.print(f"counting tokens with the tokenizer of {model}")
        return load_tokenizer(model)
    return None
