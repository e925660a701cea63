"""``sky.client.sdk.enabled_clouds``: from the fake's config (what `sky check` enabled)."""

from __future__ import annotations

from sky._state import config, request


def enabled_clouds(workspace: str | None = None, expand: bool = False) -> str:
    return request(list(config().get("enabled", ["Kubernetes", "AWS"])))
