"""What every CLI module shares: the app, the consoles, common arguments, job loading, event lines."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console

from tunesdk.cli.help_format import ReflowedHelpGroup, show_flags_as_flags
from tunesdk.errors import JobError

app = typer.Typer(
    name="tunesdk",
    help="Define an LLM fine-tuning job once; run it on TRL, Unsloth, Axolotl, OpenAI, Together, Fireworks or Tinker.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=ReflowedHelpGroup,  # docstrings' hard line breaks joined: the terminal wraps help
)
# markup off: messages, fixes and paths carry brackets (`pip install "pkg[extra]"`, "[rank 1]");
# emoji off: ids carry ":name:" pairs (tinker://RUN:train:0/... would print a 🚋)
out = Console(markup=False, emoji=False)
err = Console(stderr=True, markup=False, emoji=False)

JobFile = Annotated[Path, typer.Argument(help="job YAML/JSON file")]
show_flags_as_flags()  # `--json`, not `--json <bool>`, in every command's help

BackendOpt = Annotated[
    str,
    typer.Option("--backend", "-b", metavar="NAME", help="backend name (see `tunesdk backends`)"),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="override a job option (dotted keys ok; repeat for more)",
    ),
]


def load_job(path: Path, sets: list[str] | None) -> Any:
    """The job file with its ``--set`` overrides applied (each value parsed as YAML, safely)."""
    from tunesdk.job import Job

    job = Job.from_yaml(path)
    if sets:
        job = job.with_overrides(parse_sets(sets))
    return job


def parse_sets(sets: list[str]) -> dict[str, Any]:
    """``--set key=value`` items as overrides; a bad one is a usage error (JobError, exit 2) that
    names the item and the column, never a parser traceback."""
    from tunesdk.secrets import path_is_secret
    from tunesdk.yaml_safe import YAMLRefused, load_yaml

    overrides: dict[str, Any] = {}
    for number, item in enumerate(sets, 1):
        key, sep, value = item.partition("=")
        if sep and path_is_secret(key.strip()):
            item = f"{key}=***"  # a credential never lands in a message
        shown = item if len(item) <= 60 else item[:57] + "..."
        where = f"--set #{number} ({shown!r})"
        if not sep or not key.strip():
            raise JobError(
                "not key=value", where=where, fix="e.g. --set epochs=3 or --set method.r=8"
            )
        try:
            overrides[key.strip()] = load_yaml(value, max_nodes=1_000)
        except YAMLRefused as exc:
            raise JobError(str(exc), where=where, fix="write the value out in full") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
            column = len(key) + 2 + mark.column if mark is not None else None
            problem = getattr(exc, "problem", None) or "not valid YAML"
            fix = (
                "quote the value if it is meant as text (--set 'name=\"a: b\"'), or close its "
                "brackets (--set 'report_to=[wandb]')"
            )
            if "constructor for the tag" in str(problem):
                problem = "YAML tags such as !!python/... are not allowed"
                fix = "give a plain value (a number, text, true/false, [a, b] or {k: v})"
            at = f" at column {column}" if column is not None else ""
            raise JobError(
                f"the value is not valid YAML{at}: {problem}", where=where, fix=fix
            ) from None
    return overrides


def print_event(event: Any, as_json: bool) -> None:
    if as_json:
        print(event.to_json(), flush=True)
        return
    from tunesdk.progress import event_line

    out.print(event_line(event), soft_wrap=True)


def require_free_port(host: str, port: int, *, busy_hint: str = "") -> None:
    """Fail before a server prints its address when ``host:port`` cannot be bound (uvicorn would
    say only ``[Errno 98]`` after the banner claimed the address)."""
    import errno
    import socket

    from tunesdk.errors import TuneError

    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.create_server((host, port), family=family):  # SO_REUSEADDR, as uvicorn
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.EADDRINUSE:
            raise TuneError(
                f"port {port} on {host} is already in use{busy_hint}",
                where="--port",
                fix=f"stop what listens there, or choose another port: --port {port + 1}",
            ) from None
        raise TuneError(
            f"cannot listen on {host}:{port}: {reason}",
            where="--host",
            fix="bind an address of this machine (127.0.0.1 for this machine only)",
        ) from None
