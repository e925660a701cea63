"""One settings dataclass per emulator, changed only through a check against its fields.

Each provider subclasses `EmulatorSettings` with its own knobs (phase lengths, limits, account
credit). `apply_settings` is what ``emulator.configure(**changes)``, the constructor and
``POST /_emulator/settings`` all go through: an unknown name is a `TypeError` naming the known
ones, a value of the wrong type a `ValueError` naming the setting (pydantic does the checking).
Accepted API keys are secrets: `public_settings` never shows them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

#: settings that are never shown (over HTTP or in a banner)
SECRET_SETTINGS = frozenset({"api_keys"})


@dataclasses.dataclass
class EmulatorSettings:
    """What every emulator has: training speed, a failure step for every job, accepted keys."""

    #: seconds each emulated training step takes
    seconds_per_step: float = 0.05
    #: every new job fails at this training step; None = never (see also ``fail_next_job``)
    fail_at_step: int | None = None
    #: keys accepted as valid; None accepts any non-empty key
    api_keys: frozenset[str] | None = None


def setting_names(settings: EmulatorSettings | type[EmulatorSettings]) -> list[str]:
    return [f.name for f in dataclasses.fields(settings)]


_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def _adapter(kind: type[EmulatorSettings]) -> TypeAdapter[Any]:
    if kind not in _ADAPTERS:
        _ADAPTERS[kind] = TypeAdapter(kind)
    return _ADAPTERS[kind]


def apply_settings(settings: EmulatorSettings, changes: dict[str, Any]) -> EmulatorSettings:
    """Check ``changes`` against the settings' fields and types, then set them in place."""
    known = setting_names(settings)
    unknown = sorted(set(changes) - set(known))
    if unknown:
        raise TypeError(f"unknown emulator settings {unknown}; known: {sorted(known)}")
    if "api_keys" in changes and isinstance(changes["api_keys"], str):
        changes = {**changes, "api_keys": [changes["api_keys"]]}  # one key, not its letters
    current = {name: getattr(settings, name) for name in known}
    try:
        checked = _adapter(type(settings)).validate_python({**current, **changes})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise ValueError(f"bad emulator settings: {problems}") from None
    for name in changes:
        setattr(settings, name, getattr(checked, name))
    return settings


def public_settings(settings: EmulatorSettings) -> dict[str, Any]:
    """The settings as JSON, without the accepted keys."""
    shown: dict[str, Any] = {}
    for name in setting_names(settings):
        if name in SECRET_SETTINGS:
            continue
        value = getattr(settings, name)
        shown[name] = str(value) if isinstance(value, Path) else value
    return shown


__all__ = ["EmulatorSettings", "apply_settings", "public_settings", "setting_names"]
