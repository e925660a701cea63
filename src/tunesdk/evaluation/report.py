"""``EvalReport``: the aggregate table and the per-example results of one evaluation."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict


class ExampleResult(BaseModel):
    """One example: what was asked, expected and answered, and its scores."""

    model_config = ConfigDict(frozen=True)

    id: str
    prompt: str
    reference: str
    prediction: str
    scores: dict[str, float]


class EvalReport(BaseModel):
    """Scores of one model on one set of examples. ``aggregate``: metric → mean over ``n``."""

    model_config = ConfigDict(frozen=True)

    model: str
    columns: list[str]
    aggregate: dict[str, float]
    n: int
    examples: list[ExampleResult]

    def __getitem__(self, metric: str) -> float:
        return self.aggregate[metric]

    def to_csv(self, path: str | Path) -> Path:
        """One row per example: id, prompt, reference, prediction and a column per score."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "prompt", "reference", "prediction", *self.columns])
            for row in self.examples:
                scores = [_number(row.scores.get(name)) for name in self.columns]
                writer.writerow([row.id, row.prompt, row.reference, row.prediction, *scores])
        return target

    def to_json(self, path: str | Path | None = None) -> str:
        """The whole report as JSON text; also written to ``path`` when given."""
        text = self.model_dump_json(indent=2)
        if path is not None:
            target = Path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text + "\n", encoding="utf-8")
        return text

    def table(self) -> Any:
        """The aggregate scores as a ``rich`` table."""
        from rich.table import Table

        table = Table(title=f"n={self.n}", title_justify="left")
        table.add_column("metric")
        table.add_column("value", justify="right")
        for name in self.columns:
            table.add_row(name, f"{self.aggregate[name]:.4f}")
        return table

    def __str__(self) -> str:
        return f"{self.model}\n{render(self.table())}"


def render(renderable: Any, width: int = 100) -> str:
    """A rich renderable as plain text."""
    from rich.console import Console

    console = Console(file=io.StringIO(), width=width, color_system=None, legacy_windows=False)
    console.print(renderable)
    return console.file.getvalue().rstrip("\n")  # type: ignore[attr-defined]


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


__all__ = ["EvalReport", "ExampleResult", "render"]
