"""Help text wraps where the terminal ends, never where a docstring's line happened to end."""

from __future__ import annotations

from itertools import pairwise

import pytest
import typer

from tunesdk.cli import app
from tunesdk.cli.help_format import reflow_help

WIDTHS = [64, 200]  # a narrow terminal (summaries wrap) and a wide one (they fit on one line)


def command_paths() -> list[list[str]]:
    """Every command and group, as the argument lists that reach it (``[]`` is the app)."""
    paths: list[list[str]] = [[]]

    def walk(command: object, prefix: list[str]) -> None:
        for name, sub in (getattr(command, "commands", None) or {}).items():
            paths.append([*prefix, name])
            walk(sub, [*prefix, name])

    walk(typer.main.get_command(app), [])
    return paths


def forced_breaks(lines: list[tuple[int, str]], width: int) -> list[str]:
    """Lines that end although the next line's first word would have fitted after them.

    ``lines`` are (column where the text starts, text) of one wrapped paragraph; ``width`` is the
    column the text may reach (the right edge of its cell)."""
    found = []
    for (column, line), (_, following) in pairwise(lines):
        first_word = following.split()[0]
        if column + len(line.rstrip()) + 1 + len(first_word) <= width:
            found.append(f"{line.strip()!r} | {following.strip()!r}")
    return found


def panel_rows(text: str, title: str) -> list[list[tuple[int, str]]]:
    """The description cells of a help panel's rows (``title``: e.g. "Commands")."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"╭─ {title} "))
    rows: list[list[tuple[int, str]]] = []
    for line in lines[start + 1 :]:
        if line.startswith("╰"):
            break
        inner = line[1:].rstrip().removesuffix("│").rstrip()
        if inner[1:2].strip():  # a command name: a new row
            name_end = inner.index(" ", 1)
            column = len(inner) - len(inner[name_end:].lstrip())
            rows.append([(column, inner[column:])])
        elif rows and inner.strip():
            rows[-1].append((rows[-1][0][0], inner[rows[-1][0][0] :]))
    return rows


def description_paragraphs(text: str) -> list[list[tuple[int, str]]]:
    """The paragraphs between a help page's usage line and its first panel."""
    lines = text.splitlines()
    usage = next(i for i, line in enumerate(lines) if "Usage:" in line)
    paragraphs: list[list[tuple[int, str]]] = [[]]
    for line in lines[usage + 1 :]:
        if line.startswith("╭"):
            break
        if line.strip():
            paragraphs[-1].append((0, line[1:]))
        elif paragraphs[-1]:
            paragraphs.append([])
    return [p for p in paragraphs if p]


@pytest.mark.parametrize("width", WIDTHS)
def test_command_summaries_wrap_only_at_the_terminal_edge(invoke, width: int) -> None:
    for path in (p for p in command_paths() if p in ([], ["engine"])):
        code, out, _ = invoke([*path, "--help"], width=width)
        assert code == 0, out
        rows = panel_rows(out, "Commands")
        assert len(rows) >= 2, out
        inner_width = width - 3  # the box's border and padding on each side, from column 1
        broken = [b for row in rows for b in forced_breaks(row, inner_width)]
        assert not broken, f"`tunesdk {' '.join(path)} --help` at {width} columns:\n" + "\n".join(
            broken
        )
        if width >= 200:  # every summary fits on one line when the terminal is wide
            assert all(len(row) == 1 for row in rows), out


@pytest.mark.parametrize("width", WIDTHS)
def test_every_commands_own_help_wraps_only_at_the_terminal_edge(invoke, width: int) -> None:
    broken = []
    for path in command_paths():
        code, out, _ = invoke([*path, "--help"], width=width)
        assert code == 0, out
        for paragraph in description_paragraphs(out):
            if any(line.lstrip().startswith(("- ", "* ")) for _, line in paragraph):
                continue  # a list keeps its lines
            broken += [f"{path}: {b}" for b in forced_breaks(paragraph, width - 2)]
    assert not broken, "\n".join(broken)


def test_reflow_keeps_paragraphs_lists_and_verbatim_blocks() -> None:
    docstring = """First line
    goes on.

    Second paragraph
    here:

        tunesdk run job.yaml
        tunesdk logs -f RUN

    - item one
      continued
    - item two

    \b
    keep
    as is"""
    assert reflow_help(docstring) == (
        "First line goes on.\n\nSecond paragraph here:\n\n    tunesdk run job.yaml\n"
        "    tunesdk logs -f RUN\n\n- item one continued\n- item two\n\n\b\nkeep\nas is"
    )
