"""Commands about this machine and tunesdk itself: backends, launchers, demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tunesdk.cli.common import app, out


@app.command("backends")
def list_backends() -> None:
    """List backends: installed, usable here, and the fix when not."""
    from tunesdk.registry import backends as all_backends

    table = Table("backend", "kind", "usable", "version", "why not / fix")
    for info in all_backends():
        why = "" if info.usable else f"{info.reason or ''}" + (f" — {info.fix}" if info.fix else "")
        table.add_row(info.name, info.kind, "yes" if info.usable else "no", info.version or "", why)
    out.print(table)


@app.command("launchers")
def list_launchers() -> None:
    """List launchers (where a local backend's worker runs): usable here, and the fix when not."""
    from tunesdk.launchers import launchers as all_launchers

    table = Table("launcher", "usable", "why not / fix")
    for info in all_launchers():
        why = "" if info.usable else f"{info.reason or ''}" + (f" — {info.fix}" if info.fix else "")
        table.add_row(info.name, "yes" if info.usable else "no", why)
    out.print(table)


@app.command()
def demo(
    home: Annotated[Path | None, typer.Option(help="run store for the demo")] = None,
) -> None:
    """Run the embedded default job: a tiny local fine-tune, then the same job on a provider emulator."""
    from tunesdk.demo import run_demo

    run_demo(home)
