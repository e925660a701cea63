"""Run the server in the foreground under uvicorn (what ``tunesdk serve`` does)."""

from __future__ import annotations

import os
import warnings

from tunesdk.serve.config import ServeConfig

#: seconds open connections (event streams) get to finish when the server stops
SHUTDOWN_GRACE_S = 2


def quiet_dropped_option_warnings() -> None:
    """Silence `UnsupportedOptionWarning` in this process, as the CLI does: every option a
    backend drops is already a warning event of its job (``list_events``, the dashboard), and a
    server's stderr is its operator's log, not the client's."""
    from tunesdk.errors import UnsupportedOptionWarning

    warnings.simplefilter("ignore", UnsupportedOptionWarning)


def serve(config: ServeConfig) -> None:
    """Serve ``config`` until Ctrl-C / SIGTERM. Refuses an open bind without keys first."""
    import uvicorn

    from tunesdk.serve.app import create_app

    config.check_bind()
    quiet_dropped_option_warnings()
    if config.home is not None:
        # runs are submitted through the public API, which (like the workers it starts) finds
        # the store through $TUNESDK_HOME: point it at the store this server serves
        os.environ["TUNESDK_HOME"] = str(config.home.expanduser().resolve())
    app = create_app(config)
    # the access log would show request paths only (never bodies or keys); keep uvicorn's default
    # quiet level so a busy dashboard does not flood the terminal. Event streams never end by
    # themselves, so shutdown gives open connections SHUTDOWN_GRACE_S, then closes them (the
    # clients reconnect to the next server with Last-Event-ID and miss nothing).
    uvicorn.run(
        app,
        host=config.host,
        port=config.port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
    )


__all__ = ["quiet_dropped_option_warnings", "serve"]
