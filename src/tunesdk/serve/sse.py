"""Server-sent events: a run's events live, as ``text/event-stream``, resumable without loss.

Two routes share this one implementation (only the JSON of each event differs):

- ``GET /tunesdk/v1/runs/{id}/events/stream`` — tunesdk's events, each line of the log as it is
- ``GET /v1/fine_tuning/jobs/{id}/events/stream`` — OpenAI's ``FineTuningJobEvent`` shape
  (`job_view.event_object`, the shape ``fine_tuning.jobs.list_events`` answers with)

Every event is sent as ``id: <seq>`` + ``data: <json>``, oldest first. A client resumes with the
``Last-Event-ID`` header (browsers' ``EventSource`` sends it by itself on reconnect) or
``?after=SEQ``: it gets exactly the events with a larger seq — nothing lost, nothing repeated,
since seq counts 1, 2, 3, ... per run. A comment line (``: keep-alive``) goes out after
`KEEPALIVE_S` of silence so proxies keep the connection open. After the run's terminal event the
server sends ``event: end`` and closes; a reconnect to a run with nothing left gets ``204 No
Content``, which tells ``EventSource`` to stop reconnecting.

The stream reads the run's ``events.jsonl`` from a byte offset (a ``stat`` per wake-up in the event
loop; the read itself in a worker thread), never the backend: the server's `Supervisor` is the one
poller, so a thousand watching clients cost no extra provider calls.

Starlette's own `StreamingResponse` carries the stream (no sse-starlette): the format is a few
lines, Starlette already cancels the generator when the client goes away, and shutdown with
streams open is bounded by uvicorn's ``timeout_graceful_shutdown`` (`tunesdk.serve.server`).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from tunesdk.events import Event, parse_event
from tunesdk.serve.errors import bad_request
from tunesdk.store import RunRecord

#: seconds of silence before a keep-alive comment (proxies commonly drop idle streams at 60 s)
KEEPALIVE_S = 15.0
#: how often a quiet stream looks at the log (a ``stat``): fast right after news, slower while
#: quiet, never slower than WAKE_LONGEST_S (the most a live event waits for a watching client)
WAKE_FIRST_S = 0.02
WAKE_GROWTH = 1.25
WAKE_LONGEST_S = 0.25
#: how often a quiet stream checks the run's state (for a log that never gets its final event)
STATE_LOOK_S = 2.0
#: the reconnect delay a browser's EventSource uses (the SSE ``retry:`` field), milliseconds
RETRY_MS = 2000
#: the largest event log read in one go (a long log streams out in slices)
READ_CHUNK = 4 * 1024 * 1024

TERMINAL_TYPES = frozenset({"completed", "failed", "cancelled"})
EVENT_TYPES = frozenset({"status", "progress", "evaluation", "checkpoint", "log", *TERMINAL_TYPES})


@dataclass(frozen=True, slots=True)
class Line:
    """One event line of the log: its seq and type, the line itself and its parsed JSON."""

    seq: int
    type: str
    raw: bytes
    data: dict[str, Any]

    @property
    def terminal(self) -> bool:
        return self.type in TERMINAL_TYPES

    def event(self) -> Event:
        return parse_event(self.data)


#: an event line -> the JSON text of its ``data:`` field (one line)
Render = Callable[[Line], bytes]


def as_stored(line: Line) -> bytes:
    """The event exactly as the run's log holds it (tunesdk's own event JSON)."""
    return line.raw


def shaped(shape: Callable[[Event], dict[str, Any]]) -> Render:
    """A `Render` giving each event in another shape (OpenAI's ``FineTuningJobEvent``)."""

    def render(line: Line) -> bytes:
        return json.dumps(shape(line.event()), separators=(",", ":")).encode()

    return render


class EventTail:
    """Whole new lines of a run's ``events.jsonl``, read from where the last read stopped.

    Starting ``after`` a seq, the first read scans past the older lines once; later reads cost
    only the bytes appended since. Lines still being written (no newline yet) wait for the next
    read; a line that is not an event is skipped (``tunesdk logs`` reports it).
    """

    def __init__(self, path: Path, after: int = 0) -> None:
        self.path = path
        self.after = after
        self.offset = 0

    def grown(self) -> bool:
        """True when the log holds bytes not read yet (one ``stat``: cheap in the event loop)."""
        try:
            size = os.stat(self.path).st_size
        except OSError:
            return False
        if size < self.offset:  # cut back to its last whole line by a repair: read again
            self.offset = 0
        return size > self.offset

    def read(self) -> list[Line]:
        """The event lines with a seq above the last one returned, in order."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read(READ_CHUNK)
        except OSError:
            return []
        end = chunk.rfind(b"\n") + 1
        self.offset += end
        lines: list[Line] = []
        for raw in chunk[:end].splitlines():
            line = _line(raw)
            if line is not None and line.seq > self.after:
                lines.append(line)
                self.after = line.seq
        return lines


def lines_after(path: Path, after: int, limit: int) -> list[Line]:
    """Up to ``limit`` event lines of the log at ``path`` with a seq above ``after``."""
    tail = EventTail(path, after)
    found: list[Line] = []
    while len(found) < limit and tail.grown():
        before = tail.offset
        found += tail.read()
        if tail.offset == before:  # a last line still being written
            break
    return found[:limit]


def _line(raw: bytes) -> Line | None:
    """The event line ``raw`` (stdlib JSON: the store wrote and validated it), or None for a
    line that is not an event."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    seq, kind = data.get("seq"), data.get("type")
    if not isinstance(seq, int) or isinstance(seq, bool) or kind not in EVENT_TYPES:
        return None
    return Line(seq, kind, raw.strip(), data)


def resume_point(request: Request) -> int:
    """The seq to resume after: ``Last-Event-ID`` (a reconnect) over ``?after=``, else 0."""
    header = request.headers.get("last-event-id")
    if header is not None and header.strip():
        return _seq(header, "Last-Event-ID")
    query = request.query_params.get("after")
    return _seq(query, "after") if query not in (None, "") else 0


def _seq(text: str, param: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        value = -1
    if value < 0:
        raise bad_request(
            f"{param} must be an event sequence number (0, 1, 2, ...), got {text[:40]!r}",
            param=param,
        )
    return value


def frames(lines: list[Line], render: Render) -> bytes:
    """SSE messages, one per event: ``id: <seq>`` and the event's JSON on one ``data:`` line."""
    return b"".join(b"id: %d\ndata: %s\n\n" % (line.seq, render(line)) for line in lines)


END_FRAME = b'event: end\ndata: {"reason":"the run ended"}\n\n'
KEEPALIVE_FRAME = b": keep-alive\n\n"


def event_stream(record: RunRecord, after: int, render: Render) -> Response:
    """The SSE response for ``record``'s events after seq ``after`` (204 when the run has ended
    and nothing is left to send). Called from a worker thread (it reads the log)."""
    tail = EventTail(record.events_path, after)
    first = _next(tail, render)
    ended = _ended(record)
    if ended and not first.terminal:
        more = _next(tail, render)  # what landed between the two looks
        first = _Chunk(first.body + more.body, first.count + more.count, more.terminal)
    if ended and first.count == 0:
        return Response(status_code=204)
    return StreamingResponse(
        _rest(tail, first, render) if ended else _stream(record, tail, first, render),
        media_type="text/event-stream",
        headers={
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # nginx: pass each event on at once
        },
    )


@dataclass(frozen=True, slots=True)
class _Chunk:
    body: bytes
    count: int
    terminal: bool


def _next(tail: EventTail, render: Render) -> _Chunk:
    """The next events as SSE bytes (reading and rendering: run in a worker thread), up to and
    including a terminal event."""
    lines = tail.read() if tail.grown() else []
    for i, line in enumerate(lines):
        if line.terminal:
            lines = lines[: i + 1]
            return _Chunk(frames(lines, render), len(lines), True)
    return _Chunk(frames(lines, render), len(lines), False)


async def _rest(tail: EventTail, first: _Chunk, render: Render) -> AsyncIterator[bytes]:
    """The stream of a run that had ended when the client asked: its log to the end, then end."""
    yield b"retry: %d\n\n" % RETRY_MS
    chunk = first
    while chunk.count:
        yield chunk.body
        if chunk.terminal:
            break
        chunk = await asyncio.to_thread(_next, tail, render)
    yield END_FRAME


async def _stream(
    record: RunRecord, tail: EventTail, first: _Chunk, render: Render
) -> AsyncIterator[bytes]:
    # A client that goes away is noticed by Starlette (it listens for the disconnect and cancels
    # this generator), so the loop only reads, sends and sleeps. Only a `stat` runs in the
    # event loop; reading and rendering run in worker threads.
    yield b"retry: %d\n\n" % RETRY_MS
    chunk = first
    wake = WAKE_FIRST_S
    last_sent = last_state_look = time.monotonic()
    while True:
        if chunk.count:
            yield chunk.body
            if chunk.terminal:
                yield END_FRAME
                return
            last_sent = time.monotonic()
            wake = WAKE_FIRST_S
        if tail.grown():
            chunk = await asyncio.to_thread(_next, tail, render)
            if chunk.count:
                continue
        elif time.monotonic() - last_state_look >= STATE_LOOK_S:
            last_state_look = time.monotonic()
            if await asyncio.to_thread(_ended, record):
                # the state says it ended but the log shows no terminal event (a damaged log):
                # send what is left and stop rather than keep clients waiting forever
                yield (await asyncio.to_thread(_next, tail, render)).body
                yield END_FRAME
                return
        if time.monotonic() - last_sent >= KEEPALIVE_S:
            yield KEEPALIVE_FRAME
            last_sent = time.monotonic()
        await asyncio.sleep(wake)
        wake = min(WAKE_LONGEST_S, wake * WAKE_GROWTH)
        chunk = _Chunk(b"", 0, False)


def _ended(record: RunRecord) -> bool:
    try:
        return record.terminal
    except Exception:  # deleted or damaged under us: nothing more will come
        return True


__all__ = [
    "KEEPALIVE_S",
    "EventTail",
    "Line",
    "as_stored",
    "event_stream",
    "frames",
    "lines_after",
    "resume_point",
    "shaped",
]
