"""What every CLI module shares: the app, the consoles, common arguments, job loading, event lines."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console

from tunesdk.errors import TuneError

app = typer.Typer(
    name="tunesdk",
    help="Define an LLM fine-tuning job once; run it on TRL, Unsloth, Axolotl, OpenAI, Together or Fireworks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
# markup off: messages, fixes and paths carry brackets (`pip install "pkg[extra]"`, "[rank 1]")
out = Console(markup=False)
err = Console(stderr=True, markup=False)

JobFile = Annotated[Path, typer.Argument(help="job YAML/JSON file")]
BackendOpt = Annotated[
    str, typer.Option("--backend", "-b", help="backend name (see `tunesdk backends`)")
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="override a job option: key=value (dotted keys ok)"),
]


def load_job(path: Path, sets: list[str] | None) -> Any:
    from tunesdk.job import Job

    job = Job.from_yaml(path)
    if sets:
        overrides: dict[str, Any] = {}
        for item in sets:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise TuneError(f"--set {item!r} is not key=value", fix="e.g. --set epochs=3")
            overrides[key.strip()] = yaml.safe_load(value)
        job = job.with_overrides(overrides)
    return job


def print_event(event: Any, as_json: bool) -> None:
    if as_json:
        print(event.to_json(), flush=True)
        return
    from tunesdk.events import Evaluation, Log, Progress, StatusChanged

    if isinstance(event, Progress):
        loss = f" loss={event.train_loss:.4f}" if event.train_loss is not None else ""
        total = f"/{event.total_steps}" if event.total_steps else ""
        out.print(f"step {event.step}{total}{loss}")
    elif isinstance(event, Evaluation):
        out.print(f"eval step {event.step}: eval_loss={event.eval_loss}")
    elif isinstance(event, StatusChanged):
        extra = f" ({event.provider_status})" if event.provider_status else ""
        out.print(f"status: {event.status}{extra}")
    elif isinstance(event, Log):
        out.print(f"{event.level}: {event.message}")
    else:
        out.print(f"{event.type}")
