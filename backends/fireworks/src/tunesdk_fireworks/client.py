"""The official ``fireworks-ai`` SDK client, configured from the environment or backend_options.

Keys: ``FIREWORKS_API_KEY`` and ``FIREWORKS_ACCOUNT_ID`` (or ``backend_options={"fireworks":
{"api_key": ..., "account_id": ...}}``); ``FIREWORKS_BASE_URL`` or ``base_url`` points the SDK at
another endpoint (the emulator). SDK retries are off: tunesdk.managed retries, once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tunesdk.errors import AuthError
from tunesdk.managed import ClientCache as SharedCache
from tunesdk.managed import key_fingerprint

if TYPE_CHECKING:
    from fireworks import Fireworks

PROVIDER = "fireworks"
API_KEY_ENV = "FIREWORKS_API_KEY"
ACCOUNT_ENV = "FIREWORKS_ACCOUNT_ID"
BASE_URL_ENV = "FIREWORKS_BASE_URL"
DEFAULT_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Settings:
    """Where and as whom to call Fireworks. ``repr`` never shows the key."""

    api_key: str = field(repr=False)
    account_id: str
    base_url: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S

    @property
    def cache_key(self) -> tuple[str, str, str | None, float]:
        """The settings in a client cache: the key as its fingerprint, never itself."""
        return (key_fingerprint(self.api_key), self.account_id, self.base_url, self.timeout_s)


def settings_from(options: dict[str, Any]) -> Settings:
    """Settings from backend_options over the environment; AuthError names what to set."""
    key = options.get("api_key") or os.environ.get(API_KEY_ENV)
    if not key or key == "***":
        raise AuthError(
            "no Fireworks API key",
            provider=PROVIDER,
            fix=f"set the {API_KEY_ENV} environment variable "
            "(or the job's backend_options.fireworks.api_key)",
        )
    account = options.get("account_id") or os.environ.get(ACCOUNT_ENV)
    if not account:
        raise AuthError(
            "no Fireworks account id",
            provider=PROVIDER,
            fix=f"set the {ACCOUNT_ENV} environment variable to your account id (`firectl whoami` "
            "prints it), or the job's backend_options.fireworks.account_id",
        )
    base_url = options.get("base_url") or os.environ.get(BASE_URL_ENV) or None
    timeout = float(options.get("timeout_s") or DEFAULT_TIMEOUT_S)
    return Settings(str(key), str(account), base_url, timeout)


class ClientCache:
    """One SDK client per settings, reused across calls (each holds a connection pool); keyed by
    the key's fingerprint (`tunesdk.managed.ClientCache`)."""

    def __init__(self) -> None:
        self._clients = SharedCache()

    def get(self, settings: Settings) -> Fireworks:
        return self._clients.get(settings.api_key, settings.cache_key[1:], lambda: _build(settings))

    def __repr__(self) -> str:
        return f"<ClientCache {len(self._clients)} client(s)>"


def _build(settings: Settings) -> Fireworks:
    from fireworks import Fireworks

    return Fireworks(
        api_key=settings.api_key,
        account_id=settings.account_id,
        base_url=settings.base_url,
        timeout=settings.timeout_s,
        max_retries=0,
    )


__all__ = ["ACCOUNT_ENV", "API_KEY_ENV", "BASE_URL_ENV", "ClientCache", "Settings", "settings_from"]
