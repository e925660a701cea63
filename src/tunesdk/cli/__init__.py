"""``tunesdk``: the command line, a thin face over the public API.

One module per group of commands (`jobs`, `runs`, `data`, `system`), all registered on the one
`app` from `tunesdk.cli.common`. Exit codes: 0 success; 1 the run failed or was cancelled; 2 bad
input (job, data, option); 3 backend unavailable or provider error. User errors print one readable
block, never a traceback.
"""

from __future__ import annotations

import sys
import warnings

import typer

from tunesdk.cli import (  # noqa: F401  (each registers its commands)
    clean,
    data,
    emulator,
    engine,
    jobs,
    runs,
    serve,
    system,
)
from tunesdk.cli.common import app, err, out
from tunesdk.errors import (
    BackendUnavailable,
    DataError,
    ProviderError,
    RunCancelled,
    RunFailed,
    TuneError,
    UnknownBackend,
    UnsupportedOptionWarning,
)

__all__ = ["app", "err", "main", "out"]


def main() -> None:
    """Entry point: run the app, turning tunesdk errors into one-line messages and exit codes."""
    # a dropped option is also a warning Log event of the run, which the CLI prints as it follows
    warnings.simplefilter("ignore", UnsupportedOptionWarning)
    try:
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except (RunFailed, RunCancelled) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except (DataError, TuneError) as exc:
        unavailable = isinstance(exc, BackendUnavailable | ProviderError)
        code = 3 if unavailable and not isinstance(exc, UnknownBackend) else 2
        report = getattr(exc, "report", None)
        text = report.render() if report is not None and hasattr(report, "render") else str(exc)
        fix = getattr(exc, "fix", None)
        if report is not None and fix and fix not in text:  # a report shows its issues' fixes
            text += f"\n  fix: {fix}"
        print(f"error: {text}", file=sys.stderr)
        sys.exit(code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except Exception as exc:
        if isinstance(exc, _click_exceptions()):  # usage errors: message and exit code 2
            exc.show()  # type: ignore[attr-defined]
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        raise


def _click_exceptions() -> tuple[type[BaseException], ...]:
    """Click's exception base, from click itself and from the copy newer typer releases vendor."""
    import importlib

    found: list[type[BaseException]] = []
    for module in ("click.exceptions", "typer._click.exceptions"):
        try:
            found.append(importlib.import_module(module).ClickException)
        except (ImportError, AttributeError):
            continue
    return tuple(found)
