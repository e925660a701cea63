"""`ProviderEmulator`: what every provider emulator offers, whatever API it speaks.

A provider subclasses it with its name, settings dataclass, default port, error body and ASGI app;
the base gives every one the same face:

>>> with TogetherEmulator(seconds_per_step=0.01) as emulator:       # any subclass
...     os.environ.update(emulator.env())                            # point SDK and tunesdk here
...     emulator.fault(status=429, path="/v1/fine-tunes$", times=2)   # two rate limits on create
...     emulator.fail_next_job(at_step=3)                            # the next job fails at step 3
...     emulator.configure(seconds_per_step=0.5)                     # checked against the settings
...     len(emulator.requests), len(emulator.jobs)

Over HTTP: ``POST /_emulator/faults``, ``GET /_emulator/requests``, ``GET|POST /_emulator/settings``
and ``POST /_emulator/fail_next_job`` (``{"at_step": 3, "message": "..."}``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from tunesdk.emulation.faults import (
    ADMIN_PREFIX,
    AdminRoute,
    ASGIApp,
    Fault,
    FaultMiddleware,
    Faults,
    RequestRecord,
)
from tunesdk.emulation.server import EmulatorServer
from tunesdk.emulation.settings import EmulatorSettings, apply_settings, public_settings
from tunesdk.emulation.timeline import PlannedFailure, PlannedFailures

SETTINGS_PATH = f"{ADMIN_PREFIX}/settings"
FAIL_NEXT_JOB_PATH = f"{ADMIN_PREFIX}/fail_next_job"
#: the key `env` and the banner suggest when the emulator accepts any key
DEFAULT_KEY = "emulated-key"


class ProviderEmulator:
    """A provider's API served on 127.0.0.1 in a background thread; a context manager.

    Keyword arguments are fields of the provider's `settings_type` (checked: an unknown name is a
    TypeError). Subclasses set the class attributes and implement `build_app`, `error_body`,
    `env` and `jobs`; `close` releases what their state holds.
    """

    #: the backend name (``tunesdk emulator NAME``)
    name: ClassVar[str]
    #: a human name for banners ("Together AI")
    title: ClassVar[str] = ""
    settings_type: ClassVar[type[EmulatorSettings]] = EmulatorSettings
    #: the port ``tunesdk emulator NAME`` listens on by default (distinct per provider)
    default_port: ClassVar[int] = 8765
    #: settings for a server a person watches from a shell (slower than the test defaults;
    #: ``tunesdk emulator`` also makes each training step take 0.5 s)
    interactive_settings: ClassVar[Mapping[str, Any]] = {}
    #: older paths that serve the settings route too (kept so existing scripts keep working)
    settings_aliases: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, **settings: Any) -> None:
        self.settings = self.settings_type()
        apply_settings(self.settings, settings)
        self.faults = Faults()
        self.failures = PlannedFailures()
        self.app: ASGIApp = FaultMiddleware(
            self.build_app(), self.faults, error_body=self.error_body, admin=self.admin_routes()
        )
        self.server = EmulatorServer(self.app, host=host, port=port)

    # ---- what a provider supplies ---------------------------------------------------------------

    def build_app(self) -> ASGIApp:
        """The provider's API as an ASGI app (state built from ``self.settings``)."""
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        """The body the provider sends with ``status`` (used for injected faults)."""
        return {"error": {"message": message, "code": status}}

    def env(self, api_key: str = DEFAULT_KEY) -> dict[str, str]:
        """Environment variables that point the provider's SDK (and tunesdk) here."""
        raise NotImplementedError

    @property
    def jobs(self) -> dict[str, Any]:
        """The fine-tuning jobs the emulated account holds, by id (a snapshot)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the state holds (temporary folders); called by `stop`."""

    def admin_routes(self) -> dict[str, AdminRoute]:
        """Admin routes by path; providers add their older paths to these."""
        routes: dict[str, AdminRoute] = {
            SETTINGS_PATH: self._settings_route,
            FAIL_NEXT_JOB_PATH: self._fail_next_job_route,
        }
        for alias in self.settings_aliases:
            routes[alias] = self._settings_route
        return routes

    # ---- the shared face ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server root, ``http://127.0.0.1:PORT``."""
        return self.server.base_url

    @property
    def base_url(self) -> str:
        """What the provider's SDK takes as its base URL."""
        return self.server.base_url

    @property
    def settings_url(self) -> str:
        return f"{self.url}{SETTINGS_PATH}"

    @property
    def requests(self) -> list[RequestRecord]:
        """Every API request received so far, in order (admin routes excluded)."""
        return list(self.faults.requests)

    def fault(self, fault: Fault | None = None, **fields: Any) -> Fault:
        """Inject a fault into the next matching requests (see `tunesdk.emulation.Fault`).

        ``path`` is a prefix; end it with ``$`` to match that path only.
        """
        return self.faults.add(fault, **fields)

    def fail_next_job(self, at_step: int, message: str | None = None) -> PlannedFailure:
        """Make the next created job fail once it reaches ``at_step`` (``message``: its error)."""
        return self.failures.plan(at_step, message)

    def configure(self, **changes: Any) -> EmulatorSettings:
        """Change settings while the emulator runs; names and types checked against the settings
        dataclass (TypeError / ValueError). Jobs created from now on see the new values."""
        return apply_settings(self.settings, changes)

    def public_settings(self) -> dict[str, Any]:
        """The settings as ``GET /_emulator/settings`` shows them (never the accepted keys)."""
        return public_settings(self.settings)

    def banner(self) -> str:
        """What ``tunesdk emulator NAME`` prints: where it listens and what to export. It never
        shows an accepted key, and suggests one only when any key is accepted."""
        marker = "\0key"
        env = self.env(marker)
        restricted = self.settings.api_keys is not None
        exports = " ".join(
            f"{k}={DEFAULT_KEY if v == marker else v}"
            for k, v in env.items()
            if not (restricted and v == marker)
        )
        lines = [
            f"{self.title or self.name} emulator on {self.base_url}  (Ctrl-C to stop)",
            f"  export {exports}",
        ]
        if restricted:
            key_names = [k for k, v in env.items() if v == marker]
            lines.append(f"  and set {' '.join(key_names)} to one of the keys given to --api-key")
        lines.append(
            f"  faults: POST {self.url}{ADMIN_PREFIX}/faults   settings: {self.settings_url}"
        )
        return "\n".join(lines)

    def start(self) -> ProviderEmulator:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()
        self.close()

    def serve_forever(self) -> None:
        """Serve in the foreground until Ctrl-C (which ends it quietly)."""
        try:
            self.server.serve_forever()
        finally:
            self.close()

    def __enter__(self) -> ProviderEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- admin routes -------------------------------------------------------------------------

    def _settings_route(self, method: str, body: bytes) -> tuple[int, Any]:
        if method == "POST":
            try:
                changes = json.loads(body or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("send a JSON object of settings to change")
                self.configure(**changes)
            except (TypeError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
                return 400, self.error_body(400, str(exc))
        elif method != "GET":
            return 405, self.error_body(405, f"{method} {SETTINGS_PATH}: use GET or POST")
        return 200, self.public_settings()

    def _fail_next_job_route(self, method: str, body: bytes) -> tuple[int, Any]:
        if method != "POST":
            return 405, self.error_body(405, f"{method} {FAIL_NEXT_JOB_PATH}: use POST")
        try:
            request = json.loads(body or b"{}")
            if not isinstance(request, dict):
                raise ValueError("send {'at_step': N, 'message': '...'}")
            planned = self.fail_next_job(request.get("at_step"), request.get("message"))  # type: ignore[arg-type]
        except ValueError as exc:
            return 400, self.error_body(400, str(exc))
        return 200, {"at_step": planned.at_step, "failures_pending": len(self.failures)}


__all__ = ["DEFAULT_KEY", "FAIL_NEXT_JOB_PATH", "SETTINGS_PATH", "ProviderEmulator"]
