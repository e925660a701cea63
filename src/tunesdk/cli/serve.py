"""``tunesdk serve``: OpenAI's fine-tuning API, the native runs API and the dashboard, over the
run store (see `tunesdk.serve`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tunesdk.cli.common import app, err, require_free_port


@app.command("serve")
def serve(
    host: Annotated[
        str,
        typer.Option(help="interface to bind; anything but loopback needs --api-key"),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8080,
    backend: Annotated[
        str,
        typer.Option(
            "--backend",
            "-b",
            help="backend of jobs that name none (extra_body backend or a 'backend:' model prefix"
            " choose another)",
        ),
    ] = "trl",
    api_key: Annotated[
        list[str] | None,
        typer.Option(
            "--api-key",
            metavar="KEY",
            help="accept this bearer key (repeatable; also TUNESDK_SERVE_API_KEYS=K1,K2); each key"
            " sees only its own files and jobs",
        ),
    ] = None,
    home: Annotated[
        Path | None, typer.Option(help="run store folder (default $TUNESDK_HOME or ~/.tunesdk)")
    ] = None,
    max_file_mb: Annotated[
        int, typer.Option(help="largest file through files.create, in MiB (larger: Uploads API)")
    ] = 512,
    max_upload_mb: Annotated[
        int, typer.Option(help="largest file through the Uploads API, in MiB")
    ] = 8192,
    allow_python_graders: Annotated[
        bool,
        typer.Option(
            "--allow-python-graders",
            help="accept python graders in reinforcement jobs (their code runs on this machine:"
            " only where every key holder may run code here)",
        ),
    ] = False,
    allow_backend_options: Annotated[
        bool,
        typer.Option(
            "--allow-backend-options",
            help="with API keys, accept backend_options in native jobs (an engine's own config,"
            " passed through unchanged: only where every key holder may configure the engine"
            " as this machine's user; connection options such as base_url stay refused)",
        ),
    ] = False,
    max_loaded_models: Annotated[
        int,
        typer.Option(
            min=1,
            help="local fine-tuned models chat completions keep loaded at once (least recently"
            " used dropped first)",
        ),
    ] = 2,
) -> None:
    """Serve the OpenAI-compatible fine-tuning API (point the openai SDK's base_url at
    http://HOST:PORT/v1), the native API under /tunesdk/v1 and the dashboard at /, until Ctrl-C."""
    from tunesdk.serve.config import MiB, ServeConfig
    from tunesdk.serve.server import serve as run_server

    config = ServeConfig(
        host=host,
        port=port,
        default_backend=backend,
        api_keys=ServeConfig.keys_from(api_key),
        home=home,
        max_file_bytes=max_file_mb * MiB,
        max_upload_bytes=max_upload_mb * MiB,
        allow_python_graders=allow_python_graders,
        allow_backend_options=allow_backend_options,
        max_loaded_models=max_loaded_models,
    )
    config.check_bind()
    from tunesdk.errors import TuneError
    from tunesdk.registry import installed_names

    if backend not in installed_names():
        raise TuneError(
            f"the default backend {backend!r} is not installed here",
            where="--backend",
            fix=f"choose one of {', '.join(installed_names())}, or pip install tunesdk-{backend}",
        )
    busy = " (tunesdk emulator openai listens on 8080 too)" if port == 8080 else ""
    require_free_port(host, port, busy_hint=busy)
    auth = f"{len(config.api_keys)} API key(s)" if config.authenticated else "no API keys"
    err.print(
        f"tunesdk serve on http://{host}:{port} (backend {backend}, {auth});"
        f" openai SDK: base_url='http://{host}:{port}/v1'; dashboard: http://{host}:{port}/",
        soft_wrap=True,  # one line, whatever the width: it is copied into code
    )
    run_server(config)
