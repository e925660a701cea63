"""Following a run from ``tunesdk run`` / ``tunesdk resume``: what is shown, and what Ctrl-C does.

What is shown: with ``--json`` one event per line on stdout; on a terminal the rich progress bar
(`tunesdk.progress.ProgressDisplay`); anywhere else a line every ~5 % of the steps or minute
(`tunesdk.progress.ProgressLines`). A completed run ends with a one-line summary and its model.

Ctrl-C, the same for local and managed runs (docs/reference/cli.md):

1. the first cancels the run — at once, and before anything else happens — and goes on showing
   events until the run has stopped (a local worker saves a checkpoint first; one still starting
   up is stopped outright; a provider confirms the cancel);
2. a second stops waiting: the cancel goes on by itself, and the command says how to follow it.

Either way the command exits 130 and says what happened to the run and the next command.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from tunesdk.cli.common import err, out
from tunesdk.errors import TuneError

if TYPE_CHECKING:
    from tunesdk.events import Event
    from tunesdk.run import Run

INTERRUPTED = 130  # the shell's code for "stopped by Ctrl-C" (128 + SIGINT)


class _Reporter:
    """Where events and notes go: JSON lines, the progress bar, or plain lines."""

    def __init__(self, run_id: str, as_json: bool) -> None:
        from tunesdk.progress import ProgressDisplay, ProgressLines

        self.display: ProgressDisplay | None = None
        self._lines: ProgressLines | None = None
        if not as_json and out.is_terminal:
            self.display = ProgressDisplay(run_id, console=out)
        elif not as_json:
            self._lines = ProgressLines(
                lambda line, _level: out.print(line, soft_wrap=True), end_line=False
            )
        self._as_json = as_json

    @contextlib.contextmanager
    def showing(self) -> Iterator[None]:
        if self.display is None:
            yield
            return
        with self.display:
            yield

    def update(self, event: Event) -> None:
        if self._as_json:
            print(event.to_json(), flush=True)
        elif self.display is not None:
            self.display.update(event)
        elif self._lines is not None:
            self._lines.update(event)  # (its line for the end is replaced by the summary)

    def note(self, message: str) -> None:
        """A message for the person at the keyboard: above the bar, else on stderr."""
        if self.display is not None:
            self.display.note(message, style="bold")
        else:
            err.print(message, soft_wrap=True)


def follow(run: Run, *, as_json: bool, restart_hint: str) -> int:
    """Show ``run``'s events until it ends; return the exit code (Ctrl-C handled as documented).

    ``restart_hint``: the command that starts the job again, for a run cancelled before it saved
    a checkpoint. Raises RunFailed (exit 1, printed by `tunesdk.cli.main`) when the run fails.
    """
    reporter = _Reporter(run.run_id, as_json)
    seen = 0
    cancel_sent = cancelled = False

    def show(event: Event) -> None:
        nonlocal seen
        seen = event.seq
        reporter.update(event)

    try:
        with reporter.showing():
            try:
                _each(run, after=0, callback=show)
            except KeyboardInterrupt:
                reporter.note(
                    f"Ctrl-C: cancelling run {run.run_id} — press Ctrl-C again to stop waiting "
                    "(the run then finishes cancelling by itself)"
                )
                try:
                    run.cancel(wait=False)
                except TuneError as exc:  # e.g. the provider refused or could not be reached
                    reporter.note(f"could not cancel run {run.run_id}: {exc.message}")
                    _say_still_going(run, False, reporter.note)
                    return INTERRUPTED
                cancel_sent = True
                _each(run, after=seen, callback=show, overrun=_stop_overrun(run))
                cancelled = run.status == "cancelled"
    except KeyboardInterrupt:
        _say_still_going(run, cancel_sent, reporter.note)
        return INTERRUPTED
    if cancelled:  # said once the bar has stopped, so these are the last lines on the screen
        _say_cancelled(run, reporter.note, restart_hint)
        return INTERRUPTED
    result = run.result()  # RunFailed / RunCancelled (someone else cancelled it) propagate
    if not as_json:
        from tunesdk.progress import summary_lines

        for line in summary_lines(result.run_id, result.status, result.metrics):
            out.print(line, soft_wrap=True)
        if result.model is not None:
            out.print(f"model: {result.model.to_uri()}", soft_wrap=True)
    return 0


def _each(
    run: Run,
    *,
    after: int,
    callback: Callable[[Event], None],
    overrun: tuple[float, Callable[[], None]] | None = None,
) -> None:
    """Every event after ``after`` until the run ends; ``overrun`` = (seconds, what to do when
    the run has not ended by then), after which following goes on."""
    if overrun is None:
        for event in run.events(after=after):
            callback(event)
        return
    seconds, on_overrun = overrun
    last = after
    try:
        for event in run.events(after=after, timeout=seconds):
            last = event.seq
            callback(event)
    except TimeoutError:
        on_overrun()
        for event in run.events(after=last):
            callback(event)


def _stop_overrun(run: Run) -> tuple[float, Callable[[], None]] | None:
    """A local worker that outlives its cancel grace is killed (as `Run.cancel` does)."""
    from tunesdk.local import LocalBackend

    backend = run.backend
    if not isinstance(backend, LocalBackend):
        return None

    def kill() -> None:
        from tunesdk.events import Cancelled
        from tunesdk.worker import last_checkpoint

        backend.kill(run.record)
        if not run.record.terminal:
            run.record.emit(Cancelled(checkpoint=last_checkpoint(run.record)))

    return backend.cancel_grace_s, kill


def _say_cancelled(run: Run, note: Callable[[str], None], restart_hint: str) -> None:
    from tunesdk.events import Cancelled

    final = next((e for e in reversed(run.record.events()) if e.terminal), None)
    checkpoint = final.checkpoint if isinstance(final, Cancelled) else None
    if checkpoint and ("://" in checkpoint or Path(checkpoint).exists()):
        note(f"run {run.run_id} cancelled; last checkpoint: {checkpoint}")
        note(f"  resume it: tunesdk resume {run.run_id}")
    else:
        note(f"run {run.run_id} cancelled before it saved a checkpoint")
        note(f"  start it again: {restart_hint}")


def _say_still_going(run: Run, cancel_sent: bool, note: Callable[[str], None]) -> None:
    status = run.status
    if status in ("completed", "failed", "cancelled"):
        note(f"run {run.run_id} {status}; see: tunesdk status {run.run_id}")
    elif cancel_sent:
        note(
            f"stopped waiting: run {run.run_id} is still {status} and finishes cancelling by itself"
        )
        note(f"  follow it: tunesdk logs -f {run.run_id}")
    else:
        note(f"stopped waiting: run {run.run_id} was not cancelled and is still {status}")
        note(f"  cancel it: tunesdk cancel {run.run_id}")
        note(f"  follow it: tunesdk logs -f {run.run_id}")


def interrupted_before_start(note: Callable[[str], None] = err.print) -> int:
    """Ctrl-C while the job was still being checked or submitted."""
    note("Ctrl-C: stopped before the run started (see `tunesdk runs` for what was recorded)")
    return INTERRUPTED


def detached(run_id: str) -> None:
    """``--detach``: the id on stdout (for scripts), how to follow it on stderr."""
    print(run_id, flush=True)
    err.print(f"follow it: tunesdk logs -f {run_id}   cancel it: tunesdk cancel {run_id}")


__all__ = ["INTERRUPTED", "detached", "follow", "interrupted_before_start"]
