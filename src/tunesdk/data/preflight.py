"""The data of a whole job checked at once: train data, eval data or the eval split, the
objective, duplicates, and eval examples that also sit in the training data.

``check_training_data`` is what submit runs before anything is uploaded or started (through
``tunesdk.job_data.validate_job_data``) and what ``tunesdk validate JOB.yaml`` prints, so both say
the same. It takes plain values, not a Job: ``tunesdk.data`` knows nothing of jobs or runs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from tunesdk.data import rules
from tunesdk.data.contamination import decontaminate
from tunesdk.data.dataset import Dataset
from tunesdk.data.report import Problem, Report
from tunesdk.data.tokens import counter_for
from tunesdk.data.validation import make_checker

#: training examples up to which the 13-gram overlap test runs by default (at submit)
NGRAM_LIMIT = 10_000
#: warnings about single examples that ``DataCheck.warnings`` lists before summing up the rest
LINE_WARNINGS = 3


@dataclass
class DataCheck:
    """Reports by role (``data``, ``eval_data``); ``warnings`` repeats their warnings as text."""

    reports: dict[str, Report] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(report.ok for report in self.reports.values())

    @property
    def warnings(self) -> list[str]:
        """The warnings as lines (what submit logs): every whole-file one, the first
        ``LINE_WARNINGS`` about single lines, then how many more there are."""
        lines: list[str] = []
        per_line: list[str] = []
        more = 0
        for report in self.reports.values():
            more += report.dropped.get("warning", 0)
            for problem in report.warnings:
                text = f"{problem.where}: {problem.message}"
                (per_line if problem.line is not None else lines).append(text)
        lines.extend(per_line[:LINE_WARNINGS])
        more += max(0, len(per_line) - LINE_WARNINGS)
        if more:
            lines.append(
                f"... and {more} more warning(s) about single examples: "
                "`tunesdk validate JOB_FILE` lists them"
            )
        return lines

    def render(self) -> str:
        return "\n".join(report.render() for report in self.reports.values())


def held_out_size(total: int, eval_split: float) -> int:
    """How many of ``total`` examples ``Dataset.split(eval_split)`` holds out."""
    return min(total - 1, max(1, round(total * eval_split)))


def check_training_data(
    data: Any,
    *,
    eval_data: Any = None,
    eval_split: float | None = None,
    seed: int = 0,
    backend: str | None = None,
    max_seq_length: int | None = None,
    objective: str | None = None,
    tokenizer: Any = None,
    overlap: bool = True,
    ngram_limit: int | None = NGRAM_LIMIT,
) -> DataCheck:
    """Validate train and eval data as a job uses them (``backend``: whose rules).

    With ``eval_split`` both halves must hold the backend's minimum number of examples (named
    as the train / eval split); exact duplicates, and eval examples that are copies of training
    examples or share a 13-gram with them (``decontaminate``), are warnings. The 13-gram test
    reads the data twice more, so it runs only up to ``ngram_limit`` training examples (None: at
    any size; ``tunesdk validate`` passes None); exact copies are always found.
    """
    train = Dataset.load(data)
    backend_rules = rules.rules_for(backend)
    minimum = backend_rules.min_examples if backend_rules.split_min_examples else 1
    counter = counter_for(tokenizer) if tokenizer is not None or max_seq_length else None
    checker = make_checker(
        train,
        backend,
        counter=counter,
        max_seq_length=max_seq_length,
        objective=objective,
        duplicates=True,
        min_examples=1 if eval_split else None,
    )
    for _, record, problem in train._items():
        checker.feed(record, problem)
    report = checker.finish()
    result = DataCheck(reports={"data": report})
    digests = checker.digests
    if eval_split:
        _check_split(report, train.name, eval_split, seed, minimum, backend, digests)
        if overlap and report.ok and report.examples >= 2 and _within(report, ngram_limit):
            halves = train.split(eval_split, seed=seed)
            _ngram_overlap(report, *halves, label=f"the eval split (eval_split={eval_split})")
    elif eval_data is not None:
        held = Dataset.load(eval_data)
        eval_report = held.validate(
            backend=backend, max_seq_length=max_seq_length, tokenizer=tokenizer, objective=objective
        )
        result.reports["eval_data"] = eval_report
        if overlap and report.ok and eval_report.ok:
            _exact_overlap(eval_report, held, digests)
            if _within(report, ngram_limit):
                _ngram_overlap(eval_report, train, held, label=f"eval_data {held.name}")
    return result


def _within(report: Report, limit: int | None) -> bool:
    return limit is None or report.examples <= limit


def _check_split(
    report: Report,
    name: str,
    eval_split: float,
    seed: int,
    minimum: int,
    backend: str | None,
    digests: Any,
) -> None:
    total = report.examples
    if total < 2:
        report.add(
            Problem(
                file=name,
                field="eval_split",
                message=f"eval_split={eval_split} cannot split {total} example(s)",
                fix="give at least 2 examples, or pass eval_data instead of eval_split",
            )
        )
        return
    held_out = held_out_size(total, eval_split)
    needs = backend or "this job"
    for part, size in (("train", total - held_out), ("eval", held_out)):
        if size < minimum:
            report.add(
                Problem(
                    file=name,
                    field="eval_split",
                    message=f"the {part} split (eval_split={eval_split}) holds {size} of the "
                    f"{total} example(s); {needs} needs at least {minimum} in each file",
                    fix=f"give at least {_smallest_total(eval_split, minimum)} examples, change "
                    "eval_split, or pass eval_data instead",
                )
            )
    if digests is None or len(digests) != total:
        return
    positions = random.Random(seed).sample(range(total), held_out)
    held = set(positions)
    train_digests = {d for i, d in enumerate(digests) if i not in held and d}
    copies = sum(1 for i in positions if digests[i] and digests[i] in train_digests)
    if copies:
        report.add(
            Problem(
                file=name,
                field="eval_split",
                severity="warning",
                message=f"{copies} of the {held_out} example(s) of the eval split "
                f"(eval_split={eval_split}) are exact copies of training examples: the eval "
                "loss measures memorization, not generalization",
                fix="drop duplicates first (tunesdk clean FILE -o CLEAN.jsonl; Python: "
                "Dataset.dedupe()), or pass separate eval_data",
            )
        )


def _exact_overlap(eval_report: Report, held: Dataset, digests: Any) -> None:
    if not digests:
        return
    from tunesdk.data.validation import content_digest

    train_digests = set(digests)
    copies = sum(1 for record in held if content_digest(record) in train_digests)
    if copies:
        eval_report.add(
            Problem(
                file=held.name,
                severity="warning",
                message=f"{copies} of the {eval_report.examples} eval example(s) are exact "
                "copies of training examples: the eval loss measures memorization",
                fix="remove them from the eval data, or from the training data: tunesdk clean "
                "TRAIN -o CLEAN.jsonl --drop-overlap-with EVAL",
            )
        )


def _ngram_overlap(report: Report, train: Dataset, held: Dataset, *, label: str) -> None:
    found = decontaminate(train, held)
    if not found.overlaps:
        return
    first = found.overlaps[0]
    report.add(
        Problem(
            file=report.source,
            severity="warning",
            message=f"{found.contaminated} training example(s) share a {found.n}-word "
            f"sequence with {label} (first: {first.train_file}:{first.train_line} ~ "
            f"{first.eval_file}:{first.eval_line})",
            fix="remove them: tunesdk clean TRAIN -o CLEAN.jsonl --drop-overlap-with EVAL "
            "(Python: ts.decontaminate(train, eval, drop=True).dataset)",
        )
    )


def _smallest_total(eval_split: float, minimum: int) -> int:
    """The fewest examples whose split by ``eval_split`` leaves ``minimum`` in both halves."""
    total = 2 * minimum
    while True:
        held_out = held_out_size(total, eval_split)
        if held_out >= minimum and total - held_out >= minimum:
            return total
        total += 1


__all__ = ["DataCheck", "check_training_data", "held_out_size"]
