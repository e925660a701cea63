"""Help that shows flags as flags.

Typer 0.29's help lists a type for every option, so on/off flags read ``--detach <bool>`` and
``--help <bool>``, as if they took a value. A flag takes none: `show_flags_as_flags` makes their
type column empty (for every command, ``--help`` included). Options that take values name what
they take with a ``metavar`` where the type alone says little (``--set KEY=VALUE``).

Typer's rich help also keeps a docstring's hard line breaks (a summary breaks mid-sentence in the
command list, at any terminal width): `ReflowedHelpGroup` joins each paragraph's lines once, for
every command and group, so the terminal wraps them. Blank-line paragraphs, list items
(``- ``, ``* ``, ``1. ``), indented blocks and click's ``\\b`` (keep as written) paragraphs stay.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from typer.core import TyperGroup

_LIST_ITEM = re.compile(r"\s*(?:[-*•]|\d+[.)])\s")


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


def reflow_help(text: str | None) -> str | None:
    """``text`` with each paragraph's hard line breaks joined (see the module docstring)."""
    if not text:
        return text
    body, form_feed, rest = inspect.cleandoc(text).partition("\f")
    paragraphs = [_reflow_paragraph(p) for p in body.split("\n\n")]
    return "\n\n".join(paragraphs) + form_feed + rest


def _reflow_paragraph(paragraph: str) -> str:
    if paragraph.startswith("\b"):  # click's marker: print this paragraph as written
        return paragraph
    lines: list[str] = []
    for line in paragraph.split("\n"):
        starts_own_line = _LIST_ITEM.match(line) is not None or (
            line[:1].isspace() and not (lines and _LIST_ITEM.match(lines[-1]))
        )
        if lines and line.strip() and not starts_own_line:
            lines[-1] = f"{lines[-1].rstrip()} {line.strip()}"
        else:
            lines.append(line)
    return "\n".join(lines)


def reflow_command_help(command: Any) -> None:
    """Reflow a (Typer-built click) command's help and short help, and its subcommands', in
    place. Typer vendors click, so groups are recognised by their ``commands`` mapping."""
    command.help = reflow_help(command.help)
    command.short_help = reflow_help(command.short_help)
    for sub in (getattr(command, "commands", None) or {}).values():
        reflow_command_help(sub)


class ReflowedHelpGroup(TyperGroup):
    """The app's group: every command's help reflowed once, when the CLI is built."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        reflow_command_help(self)


__all__ = ["ReflowedHelpGroup", "reflow_command_help", "reflow_help", "show_flags_as_flags"]
