"""Finding a backend's emulator without naming its package.

A backend package declares its emulator under the ``tunesdk.emulators`` entry-point group
(``together = "tunesdk_together.emulator:TogetherEmulator"``). A backend without that entry (one
added with ``register_backend``, or installed from an older wheel) is found by the plugin anatomy:
the ``emulator`` module of the package its backend class comes from, through the registry.
"""

from __future__ import annotations

import importlib
import inspect
from importlib.metadata import entry_points

from tunesdk.emulation.base import ProviderEmulator
from tunesdk.errors import BackendUnavailable

GROUP = "tunesdk.emulators"


def emulator_for(backend: str) -> type[ProviderEmulator]:
    """The `ProviderEmulator` class backend ``backend`` ships; BackendUnavailable with the fix
    when the backend is not installed (the registry's error) or ships none."""
    found = _find(backend)
    if found is not None:
        return found
    from tunesdk.registry import installed_names

    shipping = [name for name in installed_names() if name != backend and _ships(name)]
    raise BackendUnavailable(
        backend,
        f"the {backend!r} backend ships no emulator",
        fix=f"emulators ship with: {', '.join(shipping)}" if shipping else None,
    )


def emulator_names() -> list[str]:
    """Installed backends that ship an emulator."""
    from tunesdk.registry import installed_names

    return [name for name in installed_names() if _ships(name)]


def _find(backend: str) -> type[ProviderEmulator] | None:
    declared = {ep.name: ep for ep in entry_points(group=GROUP)}
    if backend in declared:
        found = declared[backend].load()
        if _is_emulator(found, backend):
            return found
    from tunesdk.registry import get_backend

    package = type(get_backend(backend)).__module__.partition(".")[0]
    try:
        module = importlib.import_module(f"{package}.emulator")
    except ModuleNotFoundError as exc:
        if exc.name not in {f"{package}.emulator", package}:
            raise
        return None
    return next((v for v in vars(module).values() if _is_emulator(v, backend)), None)


def _is_emulator(value: object, backend: str) -> bool:
    return (
        inspect.isclass(value)
        and issubclass(value, ProviderEmulator)
        and getattr(value, "name", None) == backend
    )


def _ships(backend: str) -> bool:
    try:
        return _find(backend) is not None
    except Exception:  # a broken or unusable backend ships nothing usable here
        return False


__all__ = ["GROUP", "emulator_for", "emulator_names"]
