"""Queued requests and their results, as the client's ``retrieve_future`` sees them.

Every training and sampling request is queued here and answered at once with a request id; one
worker thread runs the queue in arrival order (the client sends a model's requests in seq_id
order, so arrival order is the order Tinker promises: forward_backward, then optim_step, then
save_state ...). ``retrieve_future`` waits up to `LONG_POLL_S` for a result (the client polls
again at once on ``try_again``, so a long poll keeps it from spinning).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from tunesdk_tinker.emulator.errors import NotFound, TinkerError

logger = logging.getLogger(__name__)

#: seconds a retrieve_future call waits before answering try_again (the client's timeout is 45)
LONG_POLL_S = 20.0
#: finished results kept for retrieval (the oldest go first beyond this)
KEEP_RESULTS = 10_000


@dataclass(frozen=True)
class Result:
    """A finished request: JSON for most types, protobuf bytes for ForwardBackwardOutput and
    SampleResponse (the client only accepts those as protobuf), or an error message."""

    kind: Literal["json", "proto", "error"]
    payload: Any
    category: str = "user"


class FutureStore:
    """Runs queued work on one thread, keeps each result until it is retrieved."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tinker-server")
        self._futures: dict[str, Future[Result]] = {}
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self._prefix = uuid.uuid4().hex[:8]

    def submit(self, work: Callable[[], Result]) -> str:
        """Queue ``work``; return the request id the client polls with."""
        request_id = f"req-{self._prefix}-{next(self._counter)}"
        future = self._executor.submit(_guarded, work)
        with self._lock:
            self._futures[request_id] = future
            if len(self._futures) > KEEP_RESULTS:
                done = [key for key, value in self._futures.items() if value.done()]
                for key in done[: len(self._futures) - KEEP_RESULTS]:
                    del self._futures[key]
        return request_id

    def run_now(self, work: Callable[[], Result]) -> Result:
        """Run ``work`` on the queue and wait for it (for calls that answer directly)."""
        return self._executor.submit(_guarded, work).result()

    async def retrieve(self, request_id: str, *, wait_s: float = LONG_POLL_S) -> Result | None:
        """The result of ``request_id``, or None if it is still running after ``wait_s``."""
        with self._lock:
            future = self._futures.get(request_id)
        if future is None:
            raise NotFound(f"no request {request_id!r} on this server (it may have restarted)")
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), wait_s)
        except TimeoutError:
            return None

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _guarded(work: Callable[[], Result]) -> Result:
    try:
        return work()
    except TinkerError as exc:
        return Result("error", exc.message, "user")
    except Exception as exc:  # a server bug: fail the request, keep serving
        logger.exception("tinker server: request failed")
        return Result("error", f"server error: {type(exc).__name__}: {exc}", "server")


__all__ = ["LONG_POLL_S", "FutureStore", "Result"]
