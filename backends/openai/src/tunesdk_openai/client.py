"""The official ``openai`` client for a job: OpenAI, an OpenAI-compatible server, or Azure OpenAI.

Settings come from ``backend_options["openai"]`` first, then the SDK's own environment variables
(``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``OPENAI_ORG_ID``, ``OPENAI_PROJECT_ID``; for Azure
``AZURE_OPENAI_API_KEY``, ``AZURE_OPENAI_ENDPOINT``, ``OPENAI_API_VERSION``). The SDK's retries are
off (``max_retries=0``): tunesdk.managed retries, and reconciles creates, itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from tunesdk.errors import AuthError, JobError
from tunesdk.managed import ClientCache as SharedCache

OPENAI_KEY_ENV = "OPENAI_API_KEY"
AZURE_KEY_ENV = "AZURE_OPENAI_API_KEY"
DEFAULT_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Target:
    """Where requests go; everything needed to build a client except the key's value."""

    azure: bool
    base_url: str | None
    azure_endpoint: str | None
    api_version: str | None
    organization: str | None
    project: str | None
    timeout_s: float

    @property
    def key_env(self) -> str:
        return AZURE_KEY_ENV if self.azure else OPENAI_KEY_ENV


def target(options: dict[str, Any]) -> Target:
    """Resolve the target from backend options and the environment; JobError if incomplete."""
    endpoint = options.get("azure_endpoint") or (
        os.environ.get("AZURE_OPENAI_ENDPOINT") if not options.get("base_url") else None
    )
    version = options.get("api_version") or os.environ.get("OPENAI_API_VERSION")
    if endpoint and not version:
        raise JobError(
            "Azure OpenAI needs an API version",
            where="job.backend_options.openai.api_version",
            fix='set backend_options={"openai": {"api_version": "2025-04-01-preview"}} '
            "(a version your Azure resource supports) or OPENAI_API_VERSION",
        )
    return Target(
        azure=bool(endpoint),
        base_url=options.get("base_url") or os.environ.get("OPENAI_BASE_URL"),
        azure_endpoint=endpoint,
        api_version=version if endpoint else None,
        organization=options.get("organization"),
        project=options.get("project"),
        timeout_s=float(options.get("timeout_s", DEFAULT_TIMEOUT_S)),
    )


def api_key(where: Target, options: dict[str, Any]) -> str:
    """The key from options or the target's environment variable; AuthError naming the variable."""
    key = options.get("api_key") or os.environ.get(where.key_env)
    if not key or key == "***":
        raise AuthError(
            f"no API key for {'Azure OpenAI' if where.azure else 'OpenAI'}",
            provider="openai",
            fix=f"set the {where.key_env} environment variable",
        )
    return str(key)


class ClientCache:
    """One SDK client per target and key, reused across polls (keeps connections alive); keyed
    by the key's fingerprint (`tunesdk.managed.ClientCache`)."""

    def __init__(self) -> None:
        self._clients = SharedCache()

    def get(self, options: dict[str, Any]) -> Any:
        where = target(options)
        key = api_key(where, options)
        return self._clients.get(key, where, lambda: _build(where, key))


def _build(where: Target, key: str) -> Any:
    import openai

    common: dict[str, Any] = {"api_key": key, "max_retries": 0, "timeout": where.timeout_s}
    if where.azure:
        return openai.AzureOpenAI(
            azure_endpoint=str(where.azure_endpoint), api_version=where.api_version, **common
        )
    return openai.OpenAI(
        base_url=where.base_url,
        organization=where.organization,
        project=where.project,
        **common,
    )


__all__ = ["ClientCache", "Target", "api_key", "target"]
