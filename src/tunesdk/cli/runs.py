"""Commands over the run store: runs, status, logs, cancel, rm, prune."""

from __future__ import annotations

import json
import re
import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from tunesdk.cli.common import app, err, out, print_event

if TYPE_CHECKING:
    from tunesdk.store import RunSummary

_FILTERABLE = (
    "created",
    "validating",
    "uploading",
    "queued",
    "running",
    "completed",
    "failed",
    "cancelled",
    "damaged",
)
StatusOpt = Annotated[
    str | None,
    typer.Option("--status", "-s", help=f"only runs with this status: {', '.join(_FILTERABLE)}"),
]


def _check_status(status: str | None) -> str | None:
    if status is not None and status not in _FILTERABLE:
        raise typer.BadParameter(
            f"{status!r} is not a run status; use one of {', '.join(_FILTERABLE)}",
            param_hint="--status",
        )
    return status


@app.command()
def runs(
    status: StatusOpt = None,
    backend: Annotated[
        str | None, typer.Option("--backend", "-b", help="only runs of this backend")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=0, help="show the newest N runs (0: all)")
    ] = 20,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the runs as a JSON array (newest first)")
    ] = False,
) -> None:
    """List runs in the run store ($TUNESDK_HOME), newest first. Ids are never shortened."""
    from tunesdk.store import RunStore

    store = RunStore()
    page = store.query(status=_check_status(status), backend=backend, limit=limit or None)
    if as_json:
        print(json.dumps([summary.to_dict() for summary in page.runs], indent=2))
        return
    if not page.runs:
        what = " matching " + _filters(status, backend) if status or backend else ""
        out.print(f"no runs{what} in {store.runs_dir}")
        return
    for line in _table(page.runs):
        print(line)  # plain print: a console would wrap or cut long ids at the terminal width
    hidden = page.total - len(page.runs)
    if hidden:
        print(f"... {hidden} more (--limit 0 shows all, --status/--backend filter)")


def _filters(status: str | None, backend: str | None) -> str:
    parts = (f"status={status}" if status else "", f"backend={backend}" if backend else "")
    return " ".join(part for part in parts if part)


def _table(rows: list[RunSummary]) -> list[str]:
    """Aligned columns, every value whole (lines may be wider than the terminal)."""
    header = ["RUN ID", "BACKEND", "STATUS", "CREATED (UTC)"]
    cells = [
        [row.run_id, row.backend or "?", row.status, row.created_at[:19].replace("T", " ")]
        for row in rows
    ]
    problems = any(row.problem for row in rows)
    if problems:
        header.append("PROBLEM")
        for cell, row in zip(cells, rows, strict=True):
            cell.append(row.problem or "")
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]
    return [
        "  ".join(value.ljust(width) for value, width in zip(line, widths, strict=True)).rstrip()
        for line in [header, *cells]
    ]


@app.command()
def status(run_id: str) -> None:
    """Show a run's status, last progress and result."""
    from tunesdk.events import Completed, Failed, Progress
    from tunesdk.run import Run

    the_run = Run.attach(run_id)
    the_run.refresh()
    events = the_run.record.events()
    out.print(f"run {the_run.run_id}: {the_run.status} ({the_run.record.backend})")
    last = next((e for e in reversed(events) if isinstance(e, Progress)), None)
    if last is not None:
        from tunesdk.progress import progress_text

        if the_run.done:  # a finished run's last eta is stale
            last = last.model_copy(update={"eta_s": None})
        out.print(progress_text(last), soft_wrap=True)
    final = events[-1] if events else None
    if isinstance(final, Completed):
        out.print(f"model {final.model.to_uri()}", soft_wrap=True)
    elif isinstance(final, Failed):
        out.print(f"error: {final.error}", soft_wrap=True)
        if final.details_path:  # e.g. a dead worker's worker.log
            out.print(f"details: {final.details_path}", soft_wrap=True)


@app.command()
def logs(
    run_id: str,
    follow: Annotated[
        bool, typer.Option("-f", "--follow", help="follow until the run ends")
    ] = False,
    json_events: Annotated[bool, typer.Option("--json", help="print events as JSON lines")] = False,
) -> None:
    """Print a run's events."""
    from tunesdk.run import Run

    for event in Run.attach(run_id).events(follow=follow):
        print_event(event, json_events)


@app.command()
def cancel(run_id: str) -> None:
    """Cancel a run and wait until it stops."""
    from tunesdk.run import Run

    the_run = Run.attach(run_id)
    the_run.cancel()
    out.print(f"run {the_run.run_id}: {the_run.status}")


@app.command()
def pause(run_id: str) -> None:
    """Pause a run's provider job (backends with pause: openai); `tunesdk resume RUN` goes on.

    The run stays live while paused (its provider status says paused); a backend without pause
    refuses, naming itself.
    """
    from tunesdk.run import Run

    the_run = Run.attach(run_id)
    the_run.pause()
    out.print(f"run {the_run.run_id}: asked {the_run.record.backend} to pause its job")


YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="delete without asking")]
ForceOpt = Annotated[
    bool, typer.Option("--force", help="also delete runs that have not ended (their files go)")
]


@app.command("rm")
def remove(
    run_ids: Annotated[
        list[str], typer.Argument(metavar="RUN", help="run ids (or unique prefixes)")
    ],
    yes: YesOpt = False,
    force: ForceOpt = False,
) -> None:
    """Delete runs and their files, outputs included (asks first; --yes does not).

    A run that has not ended is kept unless --force: cancel it first with `tunesdk cancel RUN`.
    """
    from tunesdk.errors import RunStillRunning
    from tunesdk.store import RunStore

    store = RunStore()
    records = [store.get(run_id) for run_id in run_ids]  # every id checked before any deletion
    names = [record.run_id for record in records]
    if not yes and not _confirm(f"delete {len(names)} run(s) and their files: {', '.join(names)}?"):
        err.print("nothing deleted")
        raise typer.Exit(1)
    refused = 0
    for name in names:
        try:
            store.delete(name, force=force)
        except RunStillRunning as exc:
            refused += 1
            err.print(f"kept {name}: still {exc.status} (cancel it first, or pass --force)")
            continue
        out.print(f"deleted {name}")
    if refused:
        raise typer.Exit(1)


@app.command()
def prune(
    older_than: Annotated[
        str, typer.Option("--older-than", help="age, e.g. 30d, 12h, 90m, 2w (created before)")
    ],
    status: StatusOpt = None,
    yes: YesOpt = False,
    force: ForceOpt = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list what would go")] = False,
) -> None:
    """Delete the runs created longer ago than --older-than (asks first; --yes does not).

    --status limits it to runs with that status; runs that have not ended are kept unless --force.
    """
    from tunesdk.errors import RunNotFound, RunStillRunning
    from tunesdk.store import RunStore

    age = parse_age(older_than)
    store = RunStore()
    planned = store.prune(age, status=_check_status(status), force=force, dry_run=True)
    for kept in planned.kept_running:
        err.print(f"keeping {kept.run_id}: still {kept.status} (--force deletes it too)")
    if not planned.deleted:
        out.print(f"no runs to prune in {store.runs_dir}")
        return
    for summary in planned.deleted:
        out.print(f"{'would delete' if dry_run else 'delete'} {summary.run_id} ({summary.status})")
    if dry_run:
        return
    if not yes and not _confirm(f"delete these {len(planned.deleted)} run(s) and their files?"):
        err.print("nothing deleted")
        raise typer.Exit(1)
    deleted = 0
    for summary in planned.deleted:  # exactly the runs the user confirmed
        try:
            store.delete(summary.run_id, force=force)
            deleted += 1
        except RunStillRunning as exc:
            err.print(f"kept {summary.run_id}: it is {exc.status} again")
        except RunNotFound:
            pass  # deleted meanwhile by someone else
    out.print(f"deleted {deleted} run(s)")


_AGE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``45s``, ``2w`` as a timedelta (a usage error otherwise)."""
    match = _AGE.fullmatch(text.strip().lower())
    if match is None:
        raise typer.BadParameter(
            f"{text!r} is not an age; write a number and a unit: 30d, 12h, 90m, 45s or 2w",
            param_hint="--older-than",
        )
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


def _confirm(question: str) -> bool:
    """Ask on the terminal; no answer (stdin closed or not a terminal with nothing to read) is no."""
    try:
        return bool(typer.confirm(question, default=False, err=True))
    except (typer.Abort, EOFError):
        if not sys.stdin.isatty():
            err.print("no answer on stdin: pass --yes to delete without a prompt")
        return False
