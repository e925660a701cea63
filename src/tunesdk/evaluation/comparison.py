"""``ComparisonReport``: side-by-side answers of a base and a tuned model, with judge verdicts."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from tunesdk.evaluation.judge import Verdict
from tunesdk.evaluation.report import render

Winner = Literal["base", "tuned", "tie"]


class ComparisonRow(BaseModel):
    """One prompt: both answers, which one was shown as "A", and the judge's view if any."""

    model_config = ConfigDict(frozen=True)

    id: str
    prompt: str
    reference: str | None = None
    base: str
    tuned: str
    tuned_position: Literal["A", "B"]
    verdict: Verdict | None = None
    winner: Winner | None = None
    reason: str | None = None
    judge_reply: str | None = None

    @property
    def output_a(self) -> str:
        return self.tuned if self.tuned_position == "A" else self.base

    @property
    def output_b(self) -> str:
        return self.base if self.tuned_position == "A" else self.tuned


class ComparisonReport(BaseModel):
    """Every comparison, the judge's tally and the files written.

    ``win_rate`` is the tuned model's: (wins + ties / 2) / judged prompts; prompts whose verdict
    could not be read are left out of it and counted in ``unparsed``.
    """

    model_config = ConfigDict(frozen=True)

    base: str
    tuned: str
    judge: str | None = None
    seed: int
    rows: list[ComparisonRow]
    files: dict[str, Path] = {}

    def _count(self, winner: Winner) -> int:
        return sum(1 for row in self.rows if row.winner == winner)

    @property
    def wins(self) -> int:
        """Prompts the judge gave to the tuned model."""
        return self._count("tuned")

    @property
    def losses(self) -> int:
        """Prompts the judge gave to the base model."""
        return self._count("base")

    @property
    def ties(self) -> int:
        """Prompts the judge called a tie."""
        return self._count("tie")

    @property
    def judged(self) -> int:
        """Prompts with a readable verdict (wins + losses + ties)."""
        return self.wins + self.losses + self.ties

    @property
    def unparsed(self) -> int:
        """Prompts whose verdict could not be read (left out of the win rate)."""
        return len(self.rows) - self.judged if self.judge else 0

    @property
    def win_rate(self) -> float | None:
        """The tuned model's win rate (ties count half); ``None`` without a judge or verdicts."""
        if not self.judged:
            return None
        return (self.wins + self.ties / 2) / self.judged

    def summary(self) -> str:
        """One line: the win rate and its counts, or how to rate by hand without a judge."""
        if self.judge is None:
            return f"{len(self.rows)} prompts compared; no judge (rate them with the CSV)"
        rate = "n/a" if self.win_rate is None else f"{self.win_rate:.1%}"
        return (
            f"tuned win rate {rate} by judge {self.judge}: {self.wins} wins, {self.ties} ties, "
            f"{self.losses} losses over {self.judged} judged prompts"
            + (f" ({self.unparsed} verdicts unreadable)" if self.unparsed else "")
        )

    def __str__(self) -> str:
        from rich.table import Table

        table = Table(title=self.summary(), title_justify="left", show_lines=True)
        for column in ("id", "prompt", "base", "tuned", "winner"):
            table.add_column(column, overflow="fold")
        for row in self.rows:
            table.add_row(row.id, row.prompt, row.base, row.tuned, row.winner or "-")
        return render(table, width=120)


__all__ = ["ComparisonReport", "ComparisonRow", "Winner"]
