"""Help that shows flags as flags.

Typer 0.29's help lists a type for every option, so on/off flags read ``--detach <bool>`` and
``--help <bool>``, as if they took a value. A flag takes none: `show_flags_as_flags` makes their
type column empty (for every command, ``--help`` included). Options that take values name what
they take with a ``metavar`` where the type alone says little (``--set KEY=VALUE``).
"""

from __future__ import annotations

from typing import Any


def show_flags_as_flags() -> None:
    """Patch Typer's option class once so that flags show no value type in help."""
    try:
        from typer.core import TyperOption
    except ImportError:  # pragma: no cover - another Typer layout: leave its help alone
        return
    original = getattr(TyperOption, "display_type_rich", None)
    if original is None or getattr(original, "_tunesdk_flags", False):
        return

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        if getattr(self, "is_flag", False) and self.metavar is None:
            return None
        return original(self, ctx)

    display_type_rich._tunesdk_flags = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


__all__ = ["show_flags_as_flags"]
