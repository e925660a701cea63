"""`ServeConfig`: how one ``tunesdk serve`` runs, and the check that refuses an open bind."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from tunesdk.errors import TuneError

#: comma-separated API keys (the same as repeating ``--api-key``)
KEYS_ENV = "TUNESDK_SERVE_API_KEYS"
MiB = 1024 * 1024


@dataclass(frozen=True)
class ServeConfig:
    """Settings of one server. ``api_keys`` empty means no authentication (loopback only)."""

    host: str = "127.0.0.1"
    port: int = 8080
    #: the backend a job runs on when the request names none (extra_body backend / model prefix)
    default_backend: str = "trl"
    api_keys: frozenset[str] = field(default_factory=frozenset, repr=False)
    #: the store home (``$TUNESDK_HOME`` when None)
    home: Path | None = None
    #: JSON request bodies
    max_body_bytes: int = 1 * MiB
    #: one file through ``files.create`` (OpenAI's own limit is 512 MB); larger: the Uploads API
    max_file_bytes: int = 512 * MiB
    #: one upload's total through the Uploads API (OpenAI: 8 GB)
    max_upload_bytes: int = 8 * 1024 * MiB
    #: one part of an upload (OpenAI: 64 MB)
    max_part_bytes: int = 64 * MiB
    #: accept ``python`` graders in reinforcement jobs: their code runs on this machine (in the
    #: training worker), so only for servers where every key holder may run code here
    allow_python_graders: bool = False
    #: with keys, accept native jobs' ``backend_options`` (an engine's own config, passed through
    #: unchanged: trust_remote_code, plugins, file paths...) for real backends; options that say
    #: where to connect (``base_url``, ``api_key``...) stay refused either way
    allow_backend_options: bool = False
    #: local fine-tuned models chat completions keep loaded in this process at once (each holds
    #: its weights in memory); the least recently used is dropped before another is loaded
    max_loaded_models: int = 2

    def __repr__(self) -> str:  # keys are secrets: never in a repr
        keys = f"<{len(self.api_keys)} keys>" if self.api_keys else "none"
        return (
            f"ServeConfig(host={self.host!r}, port={self.port}, "
            f"default_backend={self.default_backend!r}, api_keys={keys})"
        )

    @property
    def authenticated(self) -> bool:
        return bool(self.api_keys)

    @classmethod
    def keys_from(
        cls, given: list[str] | None, environ: dict[str, str] | None = None
    ) -> frozenset[str]:
        """Keys from ``--api-key`` options plus ``$TUNESDK_SERVE_API_KEYS`` (comma-separated)."""
        env = os.environ if environ is None else environ
        keys = [k.strip() for k in (given or []) if k.strip()]
        keys += [k.strip() for k in env.get(KEYS_ENV, "").split(",") if k.strip()]
        return frozenset(keys)

    def check_bind(self) -> None:
        """Refuse a non-loopback address without API keys: anyone on the network could train on
        this machine's GPUs and the providers' accounts behind it."""
        if self.authenticated or is_loopback(self.host):
            return
        raise TuneError(
            f"refusing to serve on {self.host} without API keys: anyone who can reach it could"
            " start jobs on this machine and on your provider accounts",
            where="--host",
            fix=f"set --api-key KEY (or {KEYS_ENV}=KEY1,KEY2), or serve on 127.0.0.1 behind a"
            " proxy that authenticates",
        )


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a hostname that may resolve anywhere


__all__ = ["KEYS_ENV", "ServeConfig", "is_loopback"]
