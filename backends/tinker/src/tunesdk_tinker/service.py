"""Which Tinker service a job talks to, and the official client for it.

A *provider* preset names the client module and where its key and URL come from:

- ``tinker`` (default): the official ``tinker`` SDK. Key: ``backend_options.tinker.api_key``,
  else ``$TINKER_API_KEY``, else what the SDK finds itself (``$TINKER_CREDENTIAL_CMD``, the
  ``tinker auth login`` credentials file). URL: ``backend_options.tinker.base_url``, else
  ``$TINKER_BASE_URL``, else the SDK's production service.
- ``together``: Together's Tinker-compatible client, ``together.post_training.tinker`` (shipped
  in the ``together`` SDK; the same client calls on Together's post-training API). Key
  ``$TOGETHER_API_KEY``, URL ``$TOGETHER_BASE_URL`` or the together SDK's default.

Keys are read here, in the process that needs them, and handed to the client; they are never
written to the plan, the run folder or events.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunesdk.errors import AuthError, JobError
from tunesdk.secrets import REDACTED

if TYPE_CHECKING:
    from typing import TypeAlias

    from tunesdk.job import Job

    #: where the service options come from: a job (its ``backend_options["tinker"]``), those
    #: options themselves, or nothing (the environment decides)
    Source: TypeAlias = Job | Mapping[str, Any] | None


@dataclass(frozen=True)
class Provider:
    """A service preset: the client module, its key/URL variables and its documented default."""

    name: str
    module: str
    key_env: str
    url_env: str
    default_url: str
    distribution: str
    title: str


PROVIDERS: dict[str, Provider] = {
    "tinker": Provider(
        name="tinker",
        module="tinker",
        key_env="TINKER_API_KEY",
        url_env="TINKER_BASE_URL",
        default_url="the tinker SDK's default (Thinking Machines' production service)",
        distribution="tinker",
        title="the Tinker service",
    ),
    "together": Provider(
        name="together",
        module="together.post_training.tinker",
        key_env="TOGETHER_API_KEY",
        url_env="TOGETHER_BASE_URL",
        default_url="the together SDK's default (Together's API)",
        distribution="together",
        title="Together's Tinker-compatible service",
    ),
}
DEFAULT_PROVIDER = "tinker"
#: backend_options keys that choose the service (the rest tune the loop)
SERVICE_OPTIONS = ("provider", "base_url", "api_key")


def options(job: Source) -> dict[str, Any]:
    """The job's ``backend_options["tinker"]`` (or the options given as they are)."""
    if job is None:
        return {}
    if isinstance(job, Mapping):
        return dict(job)
    return dict(job.backend_options.get("tinker", {}))


def provider_of(job: Source, name: str | None = None) -> Provider:
    """The provider preset the job (or ``name``) selects; JobError naming the known ones."""
    chosen = name or options(job).get("provider") or DEFAULT_PROVIDER
    if chosen not in PROVIDERS:
        raise JobError(
            f"unknown Tinker provider {chosen!r}",
            where="backend_options.tinker.provider",
            fix=f"use one of {', '.join(sorted(PROVIDERS))}, or give base_url for any other "
            "service that speaks the Tinker API (with provider 'tinker')",
        )
    return PROVIDERS[chosen]


def base_url(job: Source, provider: Provider | None = None) -> str | None:
    """The service URL: ``backend_options.tinker.base_url``, else the provider's variable, else
    None (the client's own default)."""
    provider = provider or provider_of(job)
    url = options(job).get("base_url") or os.environ.get(provider.url_env)
    return str(url) if url else None


def _given_key(job: Source) -> str | None:
    key = options(job).get("api_key")
    if not key or key == REDACTED:  # a stored job holds "***" in its place
        return None
    return str(key)


def stored_tinker_credentials() -> bool:
    """Whether the tinker SDK would find a key by itself (credential command or login file)."""
    if os.environ.get("TINKER_CREDENTIAL_CMD"):
        return True
    return Path("~/.tinker/credentials.json").expanduser().is_file()


def api_key(job: Source, provider: Provider | None = None) -> str | None:
    """The key from the job's options or the provider's variable; None when the SDK finds one
    itself (tinker's credential command or login file). AuthError with the fix when there is
    none at all."""
    provider = provider or provider_of(job)
    key = _given_key(job) or os.environ.get(provider.key_env)
    if key:
        return key
    if provider.name == "tinker" and stored_tinker_credentials():
        return None
    raise AuthError(
        f"no API key for {provider.title}",
        provider=provider.name,
        fix=missing_key_fix(provider),
    )


def missing_key_fix(provider: Provider) -> str:
    login = " (or run `tinker auth login`)" if provider.name == "tinker" else ""
    return f"export {provider.key_env}=...{login}, or set backend_options.tinker.api_key"


def has_key(job: Source, provider: Provider) -> bool:
    try:
        api_key(job, provider)
    except AuthError:
        return False
    return True


def client_module(provider: Provider) -> Any:
    """The provider's client module (``tinker``, or Together's compatible one)."""
    return importlib.import_module(provider.module)


def module_available(provider: Provider) -> bool:
    top = provider.module.split(".")[0]
    if importlib.util.find_spec(top) is None:
        return False
    try:
        return importlib.util.find_spec(provider.module) is not None
    except ModuleNotFoundError:
        return False


def import_problem(provider: Provider) -> str | None:
    """Why the provider's client module does not import here (None when it does). The default
    ``tinker`` SDK is only looked up (cheap); another provider's compatible client is imported,
    since it may not fit the installed ``tinker`` (together 3.1.1's imports a type that tinker
    0.38 no longer has)."""
    if not module_available(provider):
        return f"{provider.module} is not installed"
    if provider.name == DEFAULT_PROVIDER:
        return None
    try:
        importlib.import_module(provider.module)
    except Exception as exc:  # ImportError and whatever the module raises while importing
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"{provider.module} does not import here ({detail})"
    return None


def service_client(job: Source, provider: Provider | None = None) -> Any:
    """A ``ServiceClient`` of the provider's module for the job's service."""
    provider = provider or provider_of(job)
    module = client_module(provider)
    key = api_key(job, provider)
    kwargs: dict[str, Any] = {"base_url": base_url(job, provider), "api_key": key}
    if provider.name == "tinker":
        kwargs["user_metadata"] = {"client": "tunesdk"}
    return module.ServiceClient(**kwargs)


#: seconds the reachability check waits (the SDK itself retries a dead URL for minutes)
REACH_TIMEOUT_S = 10.0


def check_reachable(job: Source) -> None:
    """ProviderError at once when the Tinker service's URL does not answer at all (a refused or
    timed-out connection, an unknown host): the SDK would retry it for minutes. Any HTTP answer,
    even an error, counts as reachable. Only for the default provider (``GET /api/v1/healthz``)."""
    provider = provider_of(job)
    if provider.name != DEFAULT_PROVIDER:
        return
    import httpx

    from tunesdk.errors import ProviderError

    url = base_url(job, provider)
    if url is None:
        from tinker.lib.base_url import resolve_base_url

        url = resolve_base_url(None)
    try:
        httpx.get(url.rstrip("/") + "/api/v1/healthz", timeout=REACH_TIMEOUT_S)
    except httpx.TransportError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ProviderError(
            f"cannot reach the Tinker service at {url} ({reason})",
            provider=provider.name,
            fix=f"check backend_options.tinker.base_url or ${provider.url_env} (and the network); "
            "nothing was started",
        ) from None


def resolved(value: Any) -> Any:
    """The value of a client call: ``tinker`` returns futures (``.result()``), Together's
    compatible client returns some values directly."""
    result = getattr(value, "result", None)
    return result() if callable(result) else value


def describe(job: Source) -> dict[str, Any]:
    """The service as the plan shows it (never the key itself: where it is read from)."""
    provider = provider_of(job)
    url = options(job).get("base_url")
    where_key = (
        "backend_options.tinker.api_key"
        if options(job).get("api_key")
        else f"${provider.key_env}"
        + (" or the tinker SDK's stored credentials" if provider.name == "tinker" else "")
    )
    return {
        "provider": provider.name,
        "client": f"{provider.module}.ServiceClient",
        "base_url": url or f"${provider.url_env}, else {provider.default_url}",
        "api_key": f"<from {where_key}>",
    }


__all__ = [
    "DEFAULT_PROVIDER",
    "PROVIDERS",
    "Provider",
    "api_key",
    "base_url",
    "describe",
    "provider_of",
    "resolved",
    "service_client",
]
