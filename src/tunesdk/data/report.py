"""Validation reports: every problem with file, line, field and a fix, readable on a terminal."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from tunesdk.errors import DataError

Severity = Literal["error", "warning"]

#: problems kept in a report; past this only the count grows, so a garbage file stays cheap
MAX_PROBLEMS = 1000
#: problems shown by ``render()`` before "... and N more"
RENDER_LIMIT = 50


class Problem(BaseModel):
    """One thing wrong with the data. ``line`` is None for whole-file or whole-dataset problems."""

    file: str | None = None
    line: int | None = None
    field: str | None = None
    message: str
    fix: str | None = None
    severity: Severity = "error"

    @property
    def where(self) -> str:
        """``file:line`` (or just the file, or ``dataset``)."""
        if self.file is None:
            return "dataset"
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    def __str__(self) -> str:
        head = f"{self.severity:<7} {self.where}"
        if self.field:
            head += f"  {self.field}"
        text = f"{head}: {self.message}"
        if self.fix:
            text += f"\n        fix: {self.fix}"
        return text


GroupKey = tuple[str | None, str | None, str, str | None, str]


def _group_key(problem: Problem) -> GroupKey:
    return (problem.file, problem.field, problem.message, problem.fix, problem.severity)


class RowTally:
    """Counts rows per file and identical row problems, so that a problem every row of a file
    has (a missing column, keys that match no format) is reported once for the file."""

    def __init__(self) -> None:
        self.rows: dict[str | None, int] = {}
        self.groups: dict[GroupKey, int] = {}

    def row(self, file: str | None) -> None:
        """Count one row of ``file``."""
        self.rows[file] = self.rows.get(file, 0) + 1

    def problem(self, problem: Problem) -> None:
        """Count one problem of a row."""
        if problem.line is not None:
            key = _group_key(problem)
            self.groups[key] = self.groups.get(key, 0) + 1

    def collapse(self, report: Report) -> None:
        """Replace, in ``report``, each problem every row of its file has by one file-level one."""
        whole = {
            key: count
            for key, count in self.groups.items()
            if count > 1 and count == self.rows.get(key[0])
        }
        if not whole:
            return
        kept: list[Problem] = []
        collapsed: list[Problem] = []
        shown: dict[GroupKey, int] = {}
        firsts: dict[GroupKey, Problem] = {}
        for problem in report.problems:
            key = _group_key(problem)
            if key in whole and problem.line is not None:
                shown[key] = shown.get(key, 0) + 1
                firsts.setdefault(key, problem)
                continue
            kept.append(problem)
        for key, count in whole.items():
            hidden = count - shown.get(key, 0)
            severity = key[4]
            if hidden:
                report.dropped[severity] = report.dropped.get(severity, 0) - hidden
            first = firsts.get(key)
            collapsed.append(
                Problem(
                    file=key[0],
                    field=key[1],
                    message=f"{key[2]} (every row: {count}"
                    + (f", first at line {first.line})" if first is not None else ")"),
                    fix=key[3],
                    severity=severity,
                )
            )
        report.problems = collapsed + kept


class Report(BaseModel):
    """The outcome of ``Dataset.validate()``."""

    source: str = Field(description="what was validated (a path, <list>, ...)")
    format: str | None = None
    kind: str | None = None
    backend: str | None = None
    examples: int = 0
    #: how token lengths were counted (None: they were not)
    token_counter: str | None = None
    problems: list[Problem] = Field(default_factory=list)
    #: problems found but not kept (past MAX_PROBLEMS), by severity
    dropped: dict[str, int] = Field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def error_count(self) -> int:
        return len(self.errors) + self.dropped.get("error", 0)

    @property
    def warning_count(self) -> int:
        return len(self.warnings) + self.dropped.get("warning", 0)

    @property
    def ok(self) -> bool:
        """True when no problem has severity ``error`` (warnings do not block)."""
        return self.error_count == 0

    def add(self, problem: Problem) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)
        else:
            self.dropped[problem.severity] = self.dropped.get(problem.severity, 0) + 1

    def render(self) -> str:
        """A terminal-friendly summary: header, problems (errors first), totals."""
        target = f" for {self.backend}" if self.backend else ""
        head = f"{self.source}: {self.examples} example(s)"
        if self.format:
            head += f", format {self.format} ({self.kind})"
        lines = [head + f", checked{target}"]
        if self.token_counter is not None:
            exact = (
                ""
                if "approximation" not in self.token_counter
                else ("; pass --tokenizer (or tokenizer=) to count real tokens")
            )
            lines.append(f"token lengths: {self.token_counter}{exact}")
        ordered = self.errors + self.warnings
        lines.extend(str(problem) for problem in ordered[:RENDER_LIMIT])
        hidden = len(ordered) - RENDER_LIMIT + sum(self.dropped.values())
        if hidden > 0:
            lines.append(f"... and {hidden} more (see report.problems)")
        verdict = "OK" if self.ok else "FAILED"
        lines.append(f"{verdict}: {self.error_count} error(s), {self.warning_count} warning(s)")
        return "\n".join(lines)

    def raise_for_problems(self) -> None:
        """Raise ``DataError`` (carrying this report) when any error-severity problem exists."""
        if self.ok:
            return
        first = self.errors[0] if self.errors else None
        summary = f"{self.error_count} data error(s) in {self.source}"
        if first is not None:
            summary += f"; first: {first.where}"
            if first.field:
                summary += f" {first.field}"
            summary += f": {first.message}"
        raise DataError(
            summary,
            report=self,
            fix=(first.fix if first is not None and first.fix else None)
            or "run `tunesdk validate FILE` to list every problem with its line",
        )
