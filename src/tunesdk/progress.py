"""How a run's events look to a person.

- `event_line`: one readable line per event (``tunesdk logs``, and every non-progress event below);
- `ProgressDisplay`: a rich progress bar with ETA, for a terminal (``job.run()``, ``tunesdk run``);
- `ProgressLines`: the same news as occasional lines where there is no terminal (a pipe, a
  service's log): a progress line each time another ~5 % of the steps is done or a minute has
  passed, every other event as it comes. ``job.run()`` sends them to the ``tunesdk`` logger;
- `summary_lines`: the short account of a finished run that ``tunesdk run`` ends with.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

from tunesdk.events import (
    Cancelled,
    Checkpoint,
    Completed,
    Evaluation,
    Event,
    Failed,
    Log,
    StatusChanged,
)
from tunesdk.events import Progress as ProgressEvent

#: the logger ``job.run()`` reports progress to when stderr is not a terminal
LOGGER = logging.getLogger("tunesdk")

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}


def format_duration(seconds: float) -> str:
    """``42 s``, ``3m12s``, ``2h05m``."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_number(value: float) -> str:
    """A loss or metric, rounded for reading: 4 decimals, or 4 significant digits when tiny/huge."""
    if value == 0 or not math.isfinite(value):
        return str(value)
    if 1e-3 <= abs(value) < 1e5:
        return f"{value:.4f}"
    return f"{value:.4g}"


def percent_done(event: ProgressEvent) -> float | None:
    """How much of the run is done, in percent (None when the total is unknown)."""
    if event.percent is not None:
        return float(event.percent)
    if event.total_steps:
        return 100.0 * event.step / event.total_steps
    return None


def progress_text(event: ProgressEvent, eta_s: float | None = None) -> str:
    """``step 37/100 (37%) loss 1.2345 eta 3m12s``; ``37%`` for providers that report percent."""
    if event.percent is not None:
        parts = [f"{event.percent:.0f}%"]
    elif event.total_steps:
        parts = [f"step {event.step}/{event.total_steps} ({percent_done(event):.0f}%)"]
    else:
        parts = [f"step {event.step}"]
    if event.epoch is not None:
        parts.append(f"epoch {event.epoch:.2f}")
    if event.train_loss is not None:
        parts.append(f"loss {format_number(event.train_loss)}")
    if event.learning_rate is not None:
        parts.append(f"lr {event.learning_rate:.2e}")
    eta = event.eta_s if event.eta_s is not None else eta_s
    if eta is not None:
        parts.append(f"eta {format_duration(eta)}")
    return " ".join(parts)


#: the eval loop's own speed (Transformers' eval_runtime & co.): in the event, not in the line
_EVAL_LOOP_TIMINGS = frozenset({"runtime", "samples_per_second", "steps_per_second"})


def _metric_text(name: str, value: float) -> str:
    """A count (num_tokens 2008) as an integer, anything else as `format_number` rounds it."""
    if name.startswith("num_") and float(value).is_integer():
        return str(int(value))
    return format_number(value)


def event_line(event: Event) -> str:
    """One readable line for any event."""
    if isinstance(event, ProgressEvent):
        return progress_text(event)
    if isinstance(event, Evaluation):
        loss = f" eval_loss {format_number(event.eval_loss)}" if event.eval_loss is not None else ""
        extra = "".join(
            f" {k} {_metric_text(k, v)}"
            for k, v in sorted(event.metrics.items())
            if k not in _EVAL_LOOP_TIMINGS
        )
        return f"eval at step {event.step}:{loss}{extra}"
    if isinstance(event, Checkpoint):
        where = event.path or event.provider_id or "(no path reported)"
        return f"checkpoint at step {event.step}: {where}"
    if isinstance(event, StatusChanged):
        extra = f" ({event.provider_status})" if event.provider_status else ""
        message = f": {event.message}" if event.message else ""
        return f"status: {event.status}{extra}{message}"
    if isinstance(event, Log):
        return f"{event.level}: {event.message}"
    if isinstance(event, Completed):
        return f"completed: model {event.model.to_uri()}"
    if isinstance(event, Failed):
        details = f" (details: {event.details_path})" if event.details_path else ""
        return f"failed: {event.error}{details}"
    if isinstance(event, Cancelled):
        kept = f" (last checkpoint: {event.checkpoint})" if event.checkpoint else ""
        return f"cancelled{kept}"
    return str(getattr(event, "type", "event"))


def event_level(event: Event) -> int:
    """The logging level an event is reported at."""
    if isinstance(event, Log):
        return _LEVELS.get(event.level, logging.ERROR)
    if isinstance(event, Failed):
        return logging.ERROR
    return logging.INFO


class _Eta:
    """Remaining seconds from the pace so far (event timestamps, so replays estimate alike)."""

    def __init__(self) -> None:
        self._start: tuple[float, float] | None = None  # (percent, timestamp)

    def update(self, event: ProgressEvent) -> float | None:
        done = percent_done(event)
        if done is None:
            return None
        now = event.time.timestamp()
        if self._start is None:
            self._start = (done, now)
            return None
        first, since = self._start
        if done <= first or now <= since:
            return None
        return (100.0 - done) * (now - since) / (done - first)


class ProgressLines:
    """Progress as occasional lines, for pipes and logs.

    A progress line for the first step, each time another ``every_percent`` of the run is done,
    after ``every_s`` seconds without one, and for the last step; every other event (status,
    evaluation, checkpoint, log, the end) as it comes. ``write(line, level)`` receives them.
    ``end_line=False`` leaves out the line for the end (for callers that print a summary).
    """

    def __init__(
        self,
        write: Callable[[str, int], None],
        *,
        every_percent: float = 5.0,
        every_s: float = 60.0,
        end_line: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._write = write
        self._end_line = end_line
        self._every_percent = every_percent
        self._every_s = every_s
        self._clock = clock
        self._eta = _Eta()
        self._last_bucket: int | None = None
        self._last_time: float | None = None
        self._pending: ProgressEvent | None = None  # the newest progress not printed yet

    def update(self, event: Event) -> None:
        if isinstance(event, ProgressEvent):
            self._progress(event)
            return
        if event.terminal and self._pending is not None:
            self._emit(self._pending)  # the run ends: say how far it got
        if event.terminal and not self._end_line:
            return
        self._write(event_line(event), event_level(event))

    def _progress(self, event: ProgressEvent) -> None:
        eta = self._eta.update(event)
        done = percent_done(event)
        now = self._clock()
        bucket = int(done // self._every_percent) if done is not None else None
        due = (
            self._last_time is None
            or (bucket is not None and bucket != self._last_bucket)
            or now - self._last_time >= self._every_s
            or (done is not None and done >= 100)
        )
        if not due:
            self._pending = event
            return
        self._emit(event, eta)
        self._last_bucket, self._last_time = bucket, now

    def _emit(self, event: ProgressEvent, eta: float | None = None) -> None:
        self._pending = None
        self._write(progress_text(event, eta), logging.INFO)


def log_lines(run_id: str) -> ProgressLines:
    """`ProgressLines` that report to the ``tunesdk`` logger as ``run ID: LINE`` (what
    ``job.run()`` uses off a terminal)."""
    return ProgressLines(lambda line, level: LOGGER.log(level, "run %s: %s", run_id, line))


class ProgressDisplay:
    """A rich progress bar: step/total (or percent), loss, elapsed and ETA; evaluations,
    checkpoints, warnings and status changes print above the bar."""

    def __init__(self, run_id: str, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[count]}"),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self.console,
        )
        self._task = self._bar.add_task(run_id, total=None, count="", info="created")

    def __enter__(self) -> ProgressDisplay:
        self._bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._bar.stop()

    def note(self, message: str, style: str | None = None) -> None:
        """Print a line above the bar."""
        self.console.print(Text(message, style=style or ""))

    def update(self, event: Event) -> None:
        if isinstance(event, StatusChanged):
            self._bar.update(self._task, info=event.provider_status or event.status)
        elif isinstance(event, ProgressEvent):
            loss = f"loss {format_number(event.train_loss)}" if event.train_loss is not None else ""
            if event.percent is not None:
                self._bar.update(
                    self._task, completed=event.percent, total=100, count=f"{event.percent:.0f}%"
                )
            else:
                count = (
                    f"{event.step}/{event.total_steps}" if event.total_steps else str(event.step)
                )
                self._bar.update(
                    self._task, completed=event.step, total=event.total_steps, count=count
                )
            self._bar.update(self._task, info=loss)
        elif isinstance(event, Evaluation | Checkpoint):
            self.note(event_line(event))
        elif isinstance(event, Log) and event.level in ("warning", "error"):
            self.note(event_line(event), style="yellow")
        elif event.terminal:
            self._bar.update(self._task, info=event.type)


def summary_lines(run_id: str, status: str, metrics: Mapping[str, float]) -> list[str]:
    """``completed run X in 14.0 s: 3 steps, epoch 0.75, train loss 5.7191, eval loss 5.6``."""
    parts = []
    if "steps" in metrics:
        parts.append(f"{metrics['steps']:.0f} steps")
    if "epoch" in metrics:
        parts.append(f"epoch {metrics['epoch']:.2f}")
    if "train_loss" in metrics:
        parts.append(f"train loss {format_number(metrics['train_loss'])}")
    if "eval_loss" in metrics:
        best = metrics.get("best_eval_loss")
        shown = f"eval loss {format_number(metrics['eval_loss'])}"
        if best is not None and best != metrics["eval_loss"]:
            shown += f" (best {format_number(best)})"
        parts.append(shown)
    took = f" in {format_duration(metrics['runtime_s'])}" if "runtime_s" in metrics else ""
    head = f"{status} run {run_id}{took}"
    return [head + (": " + ", ".join(parts) if parts else "")]


__all__ = [
    "LOGGER",
    "ProgressDisplay",
    "ProgressLines",
    "event_line",
    "format_duration",
    "format_number",
    "log_lines",
    "progress_text",
    "summary_lines",
]
