"""How many event streams one key may hold open at once (`StreamLimit`).

A stream costs the server little, but not nothing (a connection, a file look every few seconds):
a key opening thousands would starve everyone else. Past the limit a new stream is a 429 in
OpenAI's shape; a stream counts from its first byte to the moment it ends or its client leaves.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import Response, StreamingResponse

from tunesdk.serve.errors import ServeError

#: open event streams per key (per local user on a keyless server)
MAX_STREAMS_PER_KEY = 64


class StreamLimit:
    """Counts each owner's open streams; ``admit`` refuses one past `MAX_STREAMS_PER_KEY`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, int] = {}

    def open_count(self, owner: str) -> int:
        with self._lock:
            return self._open.get(owner, 0)

    def admit(self, owner: str) -> None:
        """429 when ``owner`` already holds the most streams allowed (before any work)."""
        if self.open_count(owner) >= MAX_STREAMS_PER_KEY:
            raise ServeError(
                429,
                f"Too many open event streams for this key (at most {MAX_STREAMS_PER_KEY}):"
                " close one, or poll GET .../events instead.",
                code="too_many_streams",
                type="rate_limit_error",
            )

    def counted(self, owner: str, response: Response) -> Response:
        """``response`` whose body counts as one of ``owner``'s streams while it is sent."""
        if not isinstance(response, StreamingResponse):
            return response  # a 204: nothing stays open
        inner = response.body_iterator

        async def body() -> AsyncIterator[Any]:
            with self._lock:
                self._open[owner] = self._open.get(owner, 0) + 1
            try:
                async for chunk in inner:
                    yield chunk
            finally:
                with self._lock:
                    self._open[owner] -= 1
                close = getattr(inner, "aclose", None)
                if close is not None:
                    await close()

        response.body_iterator = body()
        return response


__all__ = ["MAX_STREAMS_PER_KEY", "StreamLimit"]
