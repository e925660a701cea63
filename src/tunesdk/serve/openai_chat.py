"""(being built: see tunesdk.serve)"""

from __future__ import annotations

from starlette.routing import BaseRoute

from tunesdk.serve.context import ServeContext


def routes(ctx: ServeContext) -> list[BaseRoute]:
    return []
