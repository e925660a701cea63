"""Commands over the run store: list, status, logs, cancel."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tunesdk.cli.common import app, out, print_event


@app.command()
def runs() -> None:
    """List runs in the run store ($TUNESDK_HOME)."""
    from tunesdk.store import RunStore

    table = Table("run", "backend", "status", "created")
    for record in RunStore().list():
        table.add_row(record.run_id, record.backend, record.status, record.created_at)
    out.print(table)


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
        out.print(f"step {last.step}/{last.total_steps} loss {last.train_loss}")
    final = events[-1] if events else None
    if isinstance(final, Completed):
        out.print(f"model {final.model.to_uri()}")
    elif isinstance(final, Failed):
        out.print(f"error: {final.error}")


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
