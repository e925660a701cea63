"""A rich progress bar fed by run events (used when stderr is a terminal)."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from tunesdk.events import Evaluation, Event, Log, StatusChanged
from tunesdk.events import Progress as ProgressEvent


class ProgressDisplay:
    """Shows status, step/total, loss and ETA; prints logs and evaluations above the bar."""

    def __init__(self, run_id: str, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
        )
        self._task = self._bar.add_task(run_id, total=None, info="created")

    def __enter__(self) -> ProgressDisplay:
        self._bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._bar.stop()

    def update(self, event: Event) -> None:
        if isinstance(event, StatusChanged):
            self._bar.update(self._task, info=event.provider_status or event.status)
        elif isinstance(event, ProgressEvent):
            loss = f"loss {event.train_loss:.4f}" if event.train_loss is not None else ""
            self._bar.update(self._task, completed=event.step, total=event.total_steps, info=loss)
        elif isinstance(event, Evaluation) and event.eval_loss is not None:
            self.console.print(f"step {event.step}: eval_loss {event.eval_loss:.4f}")
        elif isinstance(event, Log) and event.level in ("warning", "error"):
            self.console.print(f"[yellow]{event.level}[/]: {escape(event.message)}")
        elif event.terminal:
            self._bar.update(self._task, info=event.type)
