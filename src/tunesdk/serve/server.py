"""Run the server in the foreground under uvicorn (what ``tunesdk serve`` does)."""

from __future__ import annotations

from tunesdk.serve.config import ServeConfig


def serve(config: ServeConfig) -> None:
    """Serve ``config`` until Ctrl-C / SIGTERM. Refuses an open bind without keys first."""
    import uvicorn

    from tunesdk.serve.app import create_app

    config.check_bind()
    app = create_app(config)
    # the access log would show request paths only (never bodies or keys); keep uvicorn's default
    # quiet level so a busy dashboard does not flood the terminal
    uvicorn.run(app, host=config.host, port=config.port, log_level="warning", lifespan="on")


__all__ = ["serve"]
