"""``tunesdk emulator BACKEND``: serve a managed backend's offline provider emulator on 127.0.0.1.

The emulator class is found through the backend (`tunesdk.emulation.emulator_for`), so any backend
package that ships one gets this command. The per-package commands (``tunesdk-together emulator``
and the like) are aliases of it that also accept their older flag names (`alias_main`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated

import typer
import yaml

from tunesdk.cli.common import app, require_free_port
from tunesdk.errors import TuneError

#: an older flag: a setting name (its value becomes ``--set NAME=VALUE``), a new flag name
#: (``--...``), a function of the value giving the new arguments, or a list (a flag without value)
Legacy = str | Callable[[str], list[str]] | list[str]


@app.command("emulator")
def emulator(
    backend: Annotated[
        str,
        typer.Argument(help="backend whose emulator to serve: together, openai, fireworks, tinker"),
    ],
    port: Annotated[
        int | None,
        typer.Option(
            help="port to listen on (default: the provider's own: together 8765, "
            "fireworks 8766, openai 8080, tinker 8767)"
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    seconds_per_step: Annotated[
        float | None,
        typer.Option(help="seconds an emulated training step takes (default 0.5; not tinker)"),
    ] = None,
    api_key: Annotated[
        list[str] | None,
        typer.Option(
            "--api-key", metavar="KEY", help="accept only this key (repeatable; default: any key)"
        ),
    ] = None,
    fail_at_step: Annotated[
        int | None, typer.Option(help="every job fails at this training step")
    ] = None,
    settings: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="NAME=VALUE",
            help="any emulator setting as name=value, e.g. --set balance=5 "
            "(the names: GET /_emulator/settings)",
        ),
    ] = None,
) -> None:
    """Serve BACKEND's provider emulator until Ctrl-C: the provider's REST API with simulated
    (tinker: real) training, for the official SDK and tunesdk alike. Prints what to export."""
    from tunesdk.emulation import emulator_for

    kind = emulator_for(backend)
    chosen = {"seconds_per_step": 0.5, **kind.interactive_settings}
    for item in settings or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise TuneError(
                f"--set {item!r} is not name=value", fix="e.g. --set seconds_per_step=1"
            )
        chosen[name.strip()] = yaml.safe_load(value)
    if seconds_per_step is not None:
        chosen["seconds_per_step"] = seconds_per_step
    if api_key:
        chosen["api_keys"] = list(api_key)
    if fail_at_step is not None:
        chosen["fail_at_step"] = fail_at_step
    port = kind.default_port if port is None else port
    busy = " (tunesdk serve listens on 8080 too)" if port == 8080 else ""
    require_free_port(host, port, busy_hint=busy)
    try:
        server = kind(host=host, port=port, **chosen)
    except (TypeError, ValueError) as exc:
        raise TuneError(
            f"tunesdk emulator {backend}: {exc}",
            fix=f"see `tunesdk emulator {backend} --help` and GET /_emulator/settings",
        ) from None
    print(server.banner(), file=sys.stderr, flush=True)  # unwrapped: it is copied into shells
    server.serve_forever()


def alias_main(
    backend: str,
    argv: Sequence[str] | None = None,
    *,
    legacy: Mapping[str, Legacy] | None = None,
) -> int:
    """``tunesdk-BACKEND emulator [FLAGS]``: the same as ``tunesdk emulator BACKEND [FLAGS]``,
    with the package's older flag names (``legacy``) translated first."""
    args = list(sys.argv[1:] if argv is None else argv)
    prog = f"tunesdk-{backend}"
    if not args or args[0] != "emulator":
        print(
            f"usage: {prog} emulator [OPTIONS]  (the same as: tunesdk emulator {backend})",
            file=sys.stderr,
        )
        return 0 if args[:1] in (["-h"], ["--help"]) else 2
    translated = translate_flags(args[1:], legacy or {})
    from tunesdk.cli import main

    sys.argv = ["tunesdk", "emulator", backend, *translated]  # help and errors name the command
    try:
        main()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


def translate_flags(args: Sequence[str], legacy: Mapping[str, Legacy]) -> list[str]:
    """Rewrite older flags into the ones ``tunesdk emulator`` takes (``--flag value`` or
    ``--flag=value``); everything else passes through."""
    out: list[str] = []
    items = list(args)
    while items:
        flag, sep, inline = items.pop(0).partition("=")
        rule = legacy.get(flag)
        if rule is None:
            out.append(flag + sep + inline)
            continue
        if isinstance(rule, list):
            out.extend(rule)
            continue
        if sep:
            value = inline
        elif items:
            value = items.pop(0)
        else:  # no value: let the command say so
            out.append(flag)
            continue
        if callable(rule):
            out.extend(rule(value))
        elif rule.startswith("--"):
            out.extend([rule, value])
        else:
            out.extend(["--set", f"{rule}={value}"])
    return out


__all__ = ["alias_main", "emulator", "translate_flags"]
