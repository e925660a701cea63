"""``tunesdk engine install|list``: the managed environments local backends train in."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tunesdk.cli.common import app, out

engine_app = typer.Typer(
    help="Engine environments: one managed virtualenv per local engine (unsloth, axolotl, trl), "
    "and SkyPilot's client for the skypilot launcher.",
    no_args_is_help=True,
)
app.add_typer(engine_app, name="engine")


@engine_app.command("install")
def install(
    name: Annotated[str, typer.Argument(help="engine: unsloth, axolotl, trl or skypilot")],
    python: Annotated[
        str | None,
        typer.Option(help="base interpreter for the virtualenv (default: this one)"),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="rebuild even when it is up to date")
    ] = False,
) -> None:
    """Create the engine's virtualenv under $TUNESDK_HOME/engines from its lock file (exact pins,
    torch first); a no-op when it was built from the same lock file."""
    from tunesdk import engines

    existing = engines.find_managed(name)
    rebuilt = force or existing is None or not existing.current
    engine = engines.install(name, python=python, force=force, echo=out.print)
    # a fresh environment imports its engine once; an unchanged one only checks it is complete
    check = engines.health(engine, deep=rebuilt)
    if not check.ok:
        out.print(f"{name}: installed but unhealthy: {check.detail}")
        raise typer.Exit(1)
    out.print(f"{name}: healthy ({check.detail})")


@engine_app.command("list")
def list_engines(
    deep: Annotated[
        bool, typer.Option("--deep", help="import each engine for real (takes seconds)")
    ] = False,
) -> None:
    """Each engine: where it runs, its versions and health, or the command that installs it."""
    from tunesdk import engines

    table = Table("engine", "interpreter", "versions", "health")
    for name, spec in engines.ENGINES.items():
        try:
            engine = engines.find(name)
        except Exception as exc:  # a broken $TUNESDK_<NAME>_PYTHON is a row, not a crash
            table.add_row(name, f"${spec.python_env}", "", f"broken: {exc}")
            continue
        if engine is None:
            table.add_row(name, "not installed", "", f"install: {engines.install_command(name)}")
            continue
        versions = ", ".join(f"{k} {v}" for k, v in engine.versions.items())
        where = str(engine.python) + (f"  (${spec.python_env})" if engine.source == "env" else "")
        check = engines.health(engine, deep=deep)
        table.add_row(name, where, versions, "ok" if check.ok else f"unhealthy: {check.detail}")
    out.print(table)
