"""Finding launchers: the built-in ones, plus packages registering under ``tunesdk.launchers``."""

from __future__ import annotations

import importlib
import threading
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from pydantic import BaseModel

from tunesdk.errors import JobError

if TYPE_CHECKING:
    from tunesdk.launchers.base import Launcher

GROUP = "tunesdk.launchers"

#: launchers shipped with tunesdk: name -> "module:Class" (imported only when asked for)
BUILTIN: dict[str, str] = {
    "local": "tunesdk.launchers.local:LocalLauncher",
    "ray": "tunesdk.launchers.ray:RayLauncher",
    "skypilot": "tunesdk.launchers.skypilot:SkyPilotLauncher",
}

_registered: dict[str, type[Launcher]] = {}
_instances: dict[str, Launcher] = {}
_lock = threading.Lock()


class LauncherInfo(BaseModel):
    """One row of ``tunesdk launchers``."""

    name: str
    usable: bool
    reason: str | None = None
    fix: str | None = None
    origin: str


def register_launcher(name: str, launcher: type[Launcher]) -> None:
    """Register a launcher class in this process (an entry point is the packaged way; only an
    entry point reaches another process such as ``Run.attach`` in a new shell)."""
    with _lock:
        _registered[name] = launcher
        _instances.pop(name, None)


def _entry_points() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=GROUP)}


def _origins() -> dict[str, str]:
    origins = dict(BUILTIN)
    origins.update(_entry_points())
    origins.update({n: f"{c.__module__}:{c.__qualname__}" for n, c in _registered.items()})
    return origins


def launcher_names() -> list[str]:
    """Every launcher known here: built-in, installed through entry points, or registered."""
    return sorted(_origins())


def get_launcher(name: str) -> Launcher:
    """The launcher instance for ``name``; JobError (with the known names) for an unknown one."""
    with _lock:
        if name in _instances:
            return _instances[name]
        cls = _registered.get(name)
        if cls is None:
            origin = _origins().get(name)
            if origin is None:
                import difflib

                close = difflib.get_close_matches(name, launcher_names(), n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise JobError(
                    f"no launcher named {name[:60]!r}",
                    where="resources.launcher",
                    fix=f"{hint}use one of {', '.join(launcher_names())} (see `tunesdk launchers`)",
                )
            module_name, _, qualname = origin.partition(":")
            try:
                target: object = importlib.import_module(module_name)
            except ImportError as exc:
                raise JobError(
                    f"launcher {name!r} failed to import ({exc})",
                    where="resources.launcher",
                    fix="reinstall the package that provides it",
                ) from exc
            for part in qualname.split("."):
                target = getattr(target, part)
            cls = target  # type: ignore[assignment]
        assert cls is not None
        instance = cls()
        _instances[name] = instance
        return instance


def launchers() -> list[LauncherInfo]:
    """Every launcher with whether it is usable here and, if not, the exact fix. Cheap: each
    launcher's ``check()`` imports nothing heavy; one that crashes is listed as not usable."""
    infos = []
    for name, origin in sorted(_origins().items()):
        try:
            check = get_launcher(name).check()
            usable, reason, fix = check.usable, check.reason, check.fix
        except Exception as exc:  # a broken plugin must not break the list
            usable, reason, fix = False, f"{type(exc).__name__}: {exc}"[:200], None
        infos.append(LauncherInfo(name=name, usable=usable, reason=reason, fix=fix, origin=origin))
    return infos


__all__ = [
    "BUILTIN",
    "GROUP",
    "LauncherInfo",
    "get_launcher",
    "launcher_names",
    "launchers",
    "register_launcher",
]
