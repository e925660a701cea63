"""Finding backends: installed packages register under the ``tunesdk.backends`` entry-point group."""

from __future__ import annotations

import threading
from importlib.metadata import entry_points, version
from typing import Any, Literal

from pydantic import BaseModel

from tunesdk.backend import Backend
from tunesdk.errors import BackendUnavailable, TuneError, UnknownBackend

GROUP = "tunesdk.backends"

#: backends the project maintains: name -> (distribution, kind); listed even when not installed
KNOWN_BACKENDS: dict[str, tuple[str, Literal["local", "managed"]]] = {
    "trl": ("tunesdk-trl", "local"),
    "unsloth": ("tunesdk-unsloth", "local"),
    "axolotl": ("tunesdk-axolotl", "local"),
    "openai": ("tunesdk-openai", "managed"),
    "together": ("tunesdk-together", "managed"),
    "fireworks": ("tunesdk-fireworks", "managed"),
    "tinker": ("tunesdk-tinker", "managed"),
}

_registered: dict[str, type[Backend]] = {}
_instances: dict[str, Backend] = {}
_lock = threading.Lock()
_entry_point_cache: dict[str, object] | None = None


class BackendInfo(BaseModel):
    """One row of ``tunesdk backends``."""

    name: str
    kind: str
    installed: bool
    usable: bool
    reason: str | None = None
    fix: str | None = None
    distribution: str | None = None
    version: str | None = None


def register_backend(name: str, backend: type[Backend], *, clobber: bool = False) -> None:
    """Register a backend class in this process (entry points are the packaged way).

    ``name`` must be the class's own ``name``. Registering the class a name already has is a
    no-op; a different class under a taken name (registered here or an installed entry point)
    raises `TuneError` unless ``clobber=True`` replaces it."""
    own = getattr(backend, "name", None)
    if own != name:
        raise TuneError(
            f"cannot register {getattr(backend, '__qualname__', backend)!r} as {name!r}: "
            + (f"its name is {own!r}" if own is not None else "it sets no name"),
            where="register_backend",
            fix=f"set `name = {name!r}` on the class, or register it as "
            f"register_backend({own!r}, ...)"
            if own is not None
            else f"set `name = {name!r}` on the class",
        )
    with _lock:
        taken = _registered.get(name)
        if not clobber and taken is not backend:
            origin = getattr(_entry_points().get(name), "value", None)
            if taken is None and origin == f"{backend.__module__}:{backend.__qualname__}":
                taken_by = None  # the installed class itself
            elif taken is None and name in _entry_points():
                taken_by = f"the installed backend {origin or name}"
            elif taken is not None:
                taken_by = f"{taken.__module__}:{taken.__qualname__}"
            else:
                taken_by = None
            if taken_by is not None:
                raise TuneError(
                    f"backend name {name!r} is taken by {taken_by}",
                    where="register_backend",
                    fix="give your backend another name, or pass clobber=True to replace it "
                    "in this process",
                )
        _registered[name] = backend
        if taken is not backend:
            _instances.pop(name, None)


def backend_origin(name: str) -> str | None:
    """``"module:Class"`` of a backend registered in this process with `register_backend`,
    so another process (the worker, a reattach) can import it; None for entry-point backends."""
    cls = _registered.get(name)
    if cls is None or name in _entry_points():
        return None
    return f"{cls.__module__}:{cls.__qualname__}"


def origin_path(origin: str) -> str | None:
    """The folder to put on ``sys.path`` so another process can import ``origin``'s module."""
    import sys
    from pathlib import Path

    module_name = origin.partition(":")[0]
    file = getattr(sys.modules.get(module_name), "__file__", None)
    if file is None:
        return None
    root = Path(file).resolve().parent
    for _ in range(module_name.count(".") + (Path(file).name == "__init__.py")):
        root = root.parent
    return str(root)


def restore_backend(name: str, origin: str | None, path: str | None = None) -> Backend:
    """The backend for ``name``; when it is not installed here, import the class recorded at
    ``origin`` (see `backend_origin`; ``path`` is where its module lives) and register it."""
    with _lock:
        known = name in _registered or name in _entry_points()
    if not known and origin:
        import importlib
        import sys

        if path and path not in sys.path:
            sys.path.append(path)
        module_name, _, qualname = origin.partition(":")
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
        register_backend(name, target)
    return get_backend(name)


def _entry_points() -> dict[str, object]:
    """The ``tunesdk.backends`` entry points, read once per process (`refresh` reads them again)."""
    global _entry_point_cache
    if _entry_point_cache is None:
        _entry_point_cache = {ep.name: ep for ep in entry_points(group=GROUP)}
    return _entry_point_cache


def refresh() -> None:
    """Read the installed entry points again (after installing a backend in a running process);
    backends already built keep their instances."""
    global _entry_point_cache
    _entry_point_cache = None


def installed_names() -> list[str]:
    """Names of every backend installed or registered here."""
    return sorted(set(_entry_points()) | set(_registered))


def get_backend(name: str) -> Backend:
    """The backend instance for ``name``; BackendUnavailable with the install command if missing."""
    with _lock:
        if name in _instances:
            return _instances[name]
        cls = _registered.get(name)
        if cls is None:
            ep = _entry_points().get(name)
            if ep is None:
                raise _not_installed(name)
            try:
                cls = ep.load()  # type: ignore[attr-defined]
            except ImportError as exc:
                dist = KNOWN_BACKENDS.get(name, (f"the package providing {name!r}", ""))[0]
                raise BackendUnavailable(
                    name,
                    f"the backend is installed but failed to import: {exc}",
                    fix=f"reinstall it: pip install --force-reinstall {dist}",
                ) from exc
        instance = cls()
        _instances[name] = instance
        return instance


def _not_installed(name: str) -> BackendUnavailable:
    if name in KNOWN_BACKENDS:
        return BackendUnavailable(
            name, "not installed", fix=f"pip install {KNOWN_BACKENDS[name][0]}"
        )
    import difflib

    names = sorted(set(installed_names()) | set(KNOWN_BACKENDS))
    close = difflib.get_close_matches(name.lower(), names, n=3, cutoff=0.6)
    known = ", ".join(installed_names()) or "none"
    shown = name if len(name) <= 60 else name[:57] + "..."
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    return UnknownBackend(
        shown,
        f"no backend named {shown!r} (installed: {known})",
        suggestions=close,
        fix=f"{hint}pick one of `tunesdk backends`, or install the package that provides it",
    )


def backends() -> list[BackendInfo]:
    """Every installed backend and every known one, with whether it is usable here and the fix.

    Cheap (``tunesdk backends`` answers in well under a second): packages are probed with
    ``importlib.metadata`` and ``importlib.util.find_spec``, and each backend's ``check()`` must
    not import what it checks for (torch, provider SDKs). A check that crashes makes its backend
    "not usable" with the reason, never the whole list fail."""
    infos: list[BackendInfo] = []
    eps = _entry_points()
    for name in sorted(set(eps) | set(_registered) | set(KNOWN_BACKENDS)):
        dist_name = KNOWN_BACKENDS.get(name, (None, ""))[0]
        ep = eps.get(name)
        dist = getattr(ep, "dist", None)
        if ep is None and name not in _registered:
            infos.append(
                BackendInfo(
                    name=name,
                    kind=KNOWN_BACKENDS[name][1],
                    installed=False,
                    usable=False,
                    reason="not installed",
                    fix=f"pip install {dist_name}",
                    distribution=dist_name,
                )
            )
            continue
        try:
            backend = get_backend(name)
            check = backend.check()
        except BackendUnavailable as exc:
            infos.append(_installed_unusable(name, exc.reason, exc.fix))
            continue
        except Exception as exc:  # a third-party check that breaks: report it, list the rest
            reason = f"its check failed: {type(exc).__name__}: {exc}"
            infos.append(_installed_unusable(name, reason, "report this to the backend's authors"))
            continue
        infos.append(
            BackendInfo(
                name=name,
                kind=backend.kind,
                installed=True,
                usable=check.usable,
                reason=check.reason,
                fix=check.fix,
                distribution=dist.name if dist is not None else dist_name,
                version=_version(dist.name) if dist is not None else None,
            )
        )
    return infos


def _installed_unusable(name: str, reason: str, fix: str | None) -> BackendInfo:
    """An installed backend that cannot load or run here, with why and the fix."""
    return BackendInfo(
        name=name,
        kind=KNOWN_BACKENDS.get(name, (None, "local"))[1],
        installed=True,
        usable=False,
        reason=reason,
        fix=fix,
    )


def _version(distribution: str) -> str | None:
    try:
        return version(distribution)
    except Exception:
        return None


__all__ = [
    "KNOWN_BACKENDS",
    "BackendInfo",
    "backends",
    "get_backend",
    "refresh",
    "register_backend",
]
