"""Ctrl-C on a terminal: the bar stops first, so what happened and the next command are the
last lines the user sees (not a redrawn bar below them)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from rich.console import Console

import tunesdk as ts


class _CancelledOnCtrlC:
    """A run whose event stream is interrupted once, then ends cancelled when asked to."""

    run_id = "together-1"
    backend = object()  # not a LocalBackend: no worker to kill
    status = "running"
    cancels = 0

    def events(self, *, after: int = 0, timeout: float | None = None) -> Iterator[ts.Event]:
        if self.cancels == 0:
            yield ts.Progress(run_id=self.run_id, seq=1, step=3, total_steps=10)
            raise KeyboardInterrupt
        self.status = "cancelled"
        yield ts.Cancelled(run_id=self.run_id, seq=after + 1)

    def cancel(self, *, wait: bool = True) -> None:
        self.cancels += 1

    @property
    def record(self) -> object:
        class Record:
            @staticmethod
            def events() -> list[ts.Event]:
                return [ts.Cancelled()]

        return Record()


def test_the_next_command_is_printed_below_the_stopped_bar(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tunesdk.cli import follow

    screen = io.StringIO()
    monkeypatch.setattr(follow, "out", Console(file=screen, force_terminal=True, width=100))
    run = _CancelledOnCtrlC()
    code = follow.follow(run, as_json=False, restart_hint="tunesdk run job.yaml -b together")  # type: ignore[arg-type]
    assert code == 130 and run.cancels == 1
    text = screen.getvalue()
    assert "Ctrl-C: cancelling run together-1" in text
    hint = text.index("start it again: tunesdk run job.yaml -b together")
    assert text.rindex("━") < hint  # the bar's last drawing comes before the hint
