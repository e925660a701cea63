"""The emulator kit: what every provider emulator that a managed backend package ships shares.

- `ProviderEmulator`: the base class, one face for every provider (``env()``, ``fault()``,
  ``fail_next_job()``, ``requests``, ``jobs``, ``configure(**settings)``, ``serve_forever()``),
  with the admin routes ``/_emulator/faults``, ``/_emulator/requests``, ``/_emulator/settings``
  and ``/_emulator/fail_next_job``.
- `EmulatorSettings` and `apply_settings`: one settings dataclass per provider, changed only
  through a check of names and types.
- `ApiRoutes` (``tunesdk.emulation.routes``, needs starlette): the route helper doing bearer
  auth, request ids and the provider's error body; `ProviderError` is the base of its errors.
- `PhaseTimeline` around `SimulatedTraining`: a job's named phases on the clock; `PlannedFailures`.
- `Faults`, `FaultMiddleware`, `EmulatorServer`: fault injection and serving on 127.0.0.1.
- `emulator_for(backend)`: a backend's emulator class, found through the registry
  (``tunesdk emulator BACKEND`` uses it).

Each provider keeps its own routes, state, error shape and, on purpose, its own request
validation: an emulator that validated with ``tunesdk.data`` would only agree with itself.
Needs the ``emulator`` extra (starlette, uvicorn); importing this package does not import them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tunesdk.emulation.base import DEFAULT_KEY, SETTINGS_PATH, ProviderEmulator
from tunesdk.emulation.discovery import emulator_for, emulator_names
from tunesdk.emulation.errors import ProviderError
from tunesdk.emulation.faults import (
    ADMIN_PREFIX,
    AdminRoute,
    ASGIApp,
    EmulatedDrop,
    ErrorBody,
    Fault,
    FaultMiddleware,
    Faults,
    Receive,
    RequestRecord,
    Scope,
    Send,
    default_error_body,
)
from tunesdk.emulation.server import EmulatorServer
from tunesdk.emulation.settings import EmulatorSettings, apply_settings, public_settings
from tunesdk.emulation.timeline import (
    PhaseTimeline,
    PlannedFailure,
    PlannedFailures,
    SimulatedTraining,
)

if TYPE_CHECKING:
    from tunesdk.emulation.routes import ApiRoutes


def __getattr__(name: str) -> Any:
    if name == "ApiRoutes":
        from tunesdk.emulation import routes

        return getattr(routes, name)
    raise AttributeError(f"module 'tunesdk.emulation' has no attribute {name!r}")


__all__ = [
    "ADMIN_PREFIX",
    "DEFAULT_KEY",
    "SETTINGS_PATH",
    "ASGIApp",
    "AdminRoute",
    "ApiRoutes",
    "EmulatedDrop",
    "EmulatorServer",
    "EmulatorSettings",
    "ErrorBody",
    "Fault",
    "FaultMiddleware",
    "Faults",
    "PhaseTimeline",
    "PlannedFailure",
    "PlannedFailures",
    "ProviderEmulator",
    "ProviderError",
    "Receive",
    "RequestRecord",
    "Scope",
    "Send",
    "SimulatedTraining",
    "apply_settings",
    "default_error_body",
    "emulator_for",
    "emulator_names",
    "public_settings",
]
