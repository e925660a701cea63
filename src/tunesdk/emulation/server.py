"""`EmulatorServer`: an ASGI app served by uvicorn on 127.0.0.1, in a thread or in the foreground."""

from __future__ import annotations

import logging
import threading
import time

from tunesdk.emulation.faults import ASGIApp, EmulatedDrop


class _HideEmulatedDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, EmulatedDrop)


_HIDE_DROPS = _HideEmulatedDrops()


class EmulatorServer:
    """Serve an ASGI app on 127.0.0.1 in a background thread.

    >>> with EmulatorServer(app) as server:
    ...     client = OpenAI(base_url=server.base_url + "/v1", api_key="test")
    """

    def __init__(self, app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

        self.app = app
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", lifespan="off", access_log=False
        )
        self._server = uvicorn.Server(config)
        logging.getLogger("uvicorn.error").addFilter(_HIDE_DROPS)
        self._thread: threading.Thread | None = None
        self.host = host
        self.port = port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> EmulatorServer:
        self._thread = threading.Thread(
            target=self._server.run, name="tunesdk-emulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the emulator did not start within 10 s")
            time.sleep(0.01)
        sockets = [s for server in self._server.servers for s in server.sockets]
        self.port = sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def serve_forever(self) -> None:
        """Run in the foreground until Ctrl-C or SIGTERM; returns quietly, without a traceback.

        uvicorn captures the signal, shuts down, then raises it again once it is done; that
        second ``KeyboardInterrupt`` is the end of serving, not an error.
        """
        try:
            self._server.run()
        except KeyboardInterrupt:
            pass

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["EmulatorServer"]
