"""``compare``: the base and the tuned model answer the same prompts, side by side.

Writes into ``out_dir``:

- ``comparison.html``: prompt / base / tuned columns (and the judge's verdict and reason);
- ``ratings.csv``: blinded, for human raters: ``id, prompt, output_a, output_b, preference,
  notes`` — which model is A is randomised per prompt (seeded) and not shown; raters fill
  ``preference`` with A, B or tie;
- ``ratings_key.csv``: ``id, output_a, output_b`` naming the model behind each column; keep it
  from the raters, then score their file with `rated_win_rate`;
- ``comparison.json``: the whole report, answers verbatim.

Control characters (which an undertrained model can emit) are shown as U+FFFD on the page and in
the rating CSV.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tunesdk.errors import DataError
from tunesdk.evaluation.comparison import ComparisonReport, ComparisonRow, Winner
from tunesdk.evaluation.examples import EvalExample, load_examples
from tunesdk.evaluation.generation import ask, describe
from tunesdk.evaluation.html_page import comparison_html, visible
from tunesdk.evaluation.judge import Verdict, ask_judge
from tunesdk.models import ModelHandle


def compare(
    base: ModelHandle,
    tuned: ModelHandle,
    prompts: Any,
    *,
    judge: ModelHandle | None = None,
    out_dir: str | Path = "comparison",
    seed: int = 0,
    max_new_tokens: int = 256,
    limit: int | None = None,
    **generation: Any,
) -> ComparisonReport:
    """Answer ``prompts`` with both models, optionally have ``judge`` pick the better answer of
    each pair (shown as A/B in a seeded random order), and write the page and CSVs (module docs).

    ``prompts``: a list of strings, a list of chat message lists, or evaluation data (anything
    `tunesdk.evaluation.evaluate` reads; its references are shown to the judge and on the
    page).
    """
    examples = _examples(prompts, limit)
    rng = random.Random(seed)
    rows = []
    for example in examples:
        base_answer = ask(base, example.prompt, max_new_tokens, **generation)
        tuned_answer = ask(tuned, example.prompt, max_new_tokens, **generation)
        position: Any = "A" if rng.random() < 0.5 else "B"
        row = ComparisonRow(
            id=example.id,
            prompt=example.prompt_text,
            reference=example.reference or None,
            base=base_answer,
            tuned=tuned_answer,
            tuned_position=position,
        )
        if judge is not None:
            verdict, reason, raw = ask_judge(
                judge, row.prompt, row.output_a, row.output_b, reference=row.reference
            )
            row = row.model_copy(
                update={
                    "verdict": verdict,
                    "winner": _winner(verdict, position),
                    "reason": reason,
                    "judge_reply": raw,
                }
            )
        rows.append(row)
    report = ComparisonReport(
        base=describe(base),
        tuned=describe(tuned),
        judge=describe(judge) if judge is not None else None,
        seed=seed,
        rows=rows,
    )
    return _write(report, Path(out_dir))


def rated_win_rate(ratings: str | Path, key: str | Path) -> dict[str, float]:
    """Score a filled-in ``ratings.csv`` against its ``ratings_key.csv``: the tuned model's
    wins, ties, losses and win rate (ties count half) over the rows that have a preference."""
    keys = {row["id"]: row for row in _read_csv(key)}
    tally = {"tuned": 0, "base": 0, "tie": 0}
    for row in _read_csv(ratings):
        choice = (row.get("preference") or "").strip().lower()
        if not choice:
            continue
        if choice not in {"a", "b", "tie"}:
            raise DataError(
                f"preference {row['preference']!r} is not A, B or tie",
                where=f"{ratings}: id {row['id']}",
                fix="write A, B or tie (or leave it empty to skip the row)",
            )
        if row["id"] not in keys:
            raise DataError(f"id {row['id']} is not in the key", where=str(key))
        tally["tie" if choice == "tie" else keys[row["id"]][f"output_{choice}"]] += 1
    rated = sum(tally.values())
    rate = (tally["tuned"] + tally["tie"] / 2) / rated if rated else float("nan")
    return {
        "wins": tally["tuned"],
        "ties": tally["tie"],
        "losses": tally["base"],
        "rated": rated,
        "win_rate": rate,
    }


def _examples(prompts: Any, limit: int | None) -> list[EvalExample]:
    if isinstance(prompts, str | Path) or not isinstance(prompts, Sequence):
        return load_examples(prompts, limit=limit)
    items = list(prompts[:limit] if limit else prompts)
    if items and all(isinstance(item, str) for item in items):
        return [
            EvalExample(str(i), [{"role": "user", "content": p}], "") for i, p in enumerate(items)
        ]
    if items and all(isinstance(item, list) for item in items):
        return [EvalExample(str(i), list(m), "") for i, m in enumerate(items)]
    if not items:
        raise DataError("no prompts to compare", where="prompts", fix="give at least one prompt")
    return load_examples(items, limit=limit)


def _winner(verdict: Verdict | None, tuned_position: str) -> Winner | None:
    if verdict is None:
        return None
    if verdict == "tie":
        return "tie"
    return "tuned" if verdict == tuned_position else "base"


def _write(report: ComparisonReport, folder: Path) -> ComparisonReport:
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "html": folder / "comparison.html",
        "ratings": folder / "ratings.csv",
        "key": folder / "ratings_key.csv",
        "json": folder / "comparison.json",
    }
    files["html"].write_text(comparison_html(report), encoding="utf-8")
    with open(files["ratings"], "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "prompt", "output_a", "output_b", "preference", "notes"])
        for row in report.rows:
            writer.writerow(
                [row.id, visible(row.prompt), visible(row.output_a), visible(row.output_b), "", ""]
            )
    with open(files["key"], "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "output_a", "output_b"])
        for row in report.rows:
            a, b = ("tuned", "base") if row.tuned_position == "A" else ("base", "tuned")
            writer.writerow([row.id, a, b])
    report = report.model_copy(update={"files": files})
    files["json"].write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return report


def _read_csv(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


__all__ = ["compare", "rated_win_rate"]
