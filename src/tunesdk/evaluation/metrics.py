"""Task metrics: each scores one prediction against one reference.

Normalisation (SQuAD's, used by ``exact_match``, ``f1`` and ``accuracy``): lower-case, drop
punctuation, drop the articles "a", "an", "the", collapse whitespace.

- ``exact_match``: 1.0 when the normalised prediction equals the normalised reference.
- ``f1``: SQuAD token F1 between the normalised texts (bag of words; 1.0 when both are empty).
- ``rouge``: ROUGE-1, ROUGE-2 and ROUGE-L F-measures from Google's ``rouge-score`` package
  (its own tokenizer: lower-case, ASCII letters and digits only; no stemming, as in Hugging Face
  ``evaluate``), reported as ``rouge1``, ``rouge2``, ``rougeL``.
- ``accuracy``: like ``exact_match``, but when the reference is a multiple-choice letter
  (``"B"``, ``"(B)"``, ``"B."``) the prediction counts when the letter it picks is that letter:
  a stated "answer is B" / "Answer: (B)" anywhere, else a leading "B", "(B) Paris", "B. Paris",
  "B) Paris" (a leading "A cat..." is a word, not a choice).

A metric may also be any callable ``(prediction, reference) -> float | dict[str, float]``.
"""

from __future__ import annotations

import difflib
import re
import string
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from typing import Any

from tunesdk.errors import JobError

Score = float | dict[str, float]
Metric = Callable[[str, str], Score]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)
_CHOICE_REFERENCE = re.compile(r"^\(?([A-Z])[).:]?$")
_CHOICE_AT_START = re.compile(r"^\s*(?:\(([A-Z])\)|([A-Z])(?:[).:]|\s*$))")
_CHOICE_STATED = re.compile(r"(?i:\banswer)\s*(?i:is)?\s*:?\s*\(?([A-Z])(?![A-Za-z])")


def normalize(text: str) -> str:
    """SQuAD normalisation: lower-case, no punctuation, no articles, single spaces."""
    text = text.lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, reference: str) -> float:
    """1.0 when the normalised texts are equal, else 0.0."""
    return float(normalize(prediction) == normalize(reference))


def f1(prediction: str, reference: str) -> float:
    """SQuAD token-level F1 of the normalised texts."""
    predicted, expected = normalize(prediction).split(), normalize(reference).split()
    if not predicted or not expected:
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def rouge(prediction: str, reference: str) -> dict[str, float]:
    """ROUGE-1/2/L F-measures (``rouge-score``)."""
    scores = _rouge_scorer().score(reference, prediction)  # (target, prediction)
    return {name: float(score.fmeasure) for name, score in scores.items()}


def accuracy(prediction: str, reference: str) -> float:
    """Normalised equality, or the same multiple-choice letter when the reference is one."""
    choice = _CHOICE_REFERENCE.match(reference.strip())
    if choice:
        return float(chosen_letter(prediction) == choice.group(1))
    return exact_match(prediction, reference)


def chosen_letter(prediction: str) -> str | None:
    """The multiple-choice letter a prediction picks: a leading "B" / "(B)" / "B." or a stated
    "answer is B" / "Answer: (B)"; ``None`` when it picks none."""
    stated = _CHOICE_STATED.search(prediction)
    if stated:
        return stated.group(1)
    leading = _CHOICE_AT_START.match(prediction)
    return (leading.group(1) or leading.group(2)) if leading else None


@cache
def _rouge_scorer() -> Any:
    try:
        from rouge_score import rouge_scorer
    except ImportError as exc:
        raise JobError(
            "the rouge metric needs the rouge-score package",
            where="metrics",
            fix="pip install 'tunesdk[eval]'  (or: pip install rouge-score)",
        ) from exc
    return rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False)


METRICS: dict[str, Metric] = {
    "exact_match": exact_match,
    "f1": f1,
    "rouge": rouge,
    "accuracy": accuracy,
}


def resolve_metrics(metrics: Iterable[str | Metric]) -> dict[str, Metric]:
    """Name → function for each requested metric; JobError (with a did-you-mean) for an unknown
    name, raised before anything is generated."""
    resolved: dict[str, Metric] = {}
    for metric in metrics:
        if callable(metric):
            resolved[getattr(metric, "__name__", repr(metric))] = metric
            continue
        if metric not in METRICS:
            close = difflib.get_close_matches(str(metric), METRICS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise JobError(
                f"unknown metric {metric!r}",
                where="metrics",
                fix=f"{hint}known metrics: {', '.join(METRICS)}; or pass a function "
                "(prediction, reference) -> float",
            )
        if metric == "rouge":
            _rouge_scorer()  # fail now, not after generating every answer
        resolved[metric] = METRICS[metric]
    if not resolved:
        raise JobError("no metrics given", where="metrics", fix=f"use some of {', '.join(METRICS)}")
    return resolved


def score(metrics: dict[str, Metric], prediction: str, reference: str) -> dict[str, float]:
    """Every metric's score(s) for one example, flattened (``rouge`` gives three columns)."""
    scores: dict[str, float] = {}
    for name, metric in metrics.items():
        value = metric(prediction, reference)
        if isinstance(value, dict):
            scores.update(value)
        else:
            scores[name] = float(value)
    return scores


def mean_scores(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    """Column means over examples (a column missing from a row is skipped there)."""
    columns: dict[str, list[float]] = {}
    for row in rows:
        for name, value in row.items():
            columns.setdefault(name, []).append(value)
    return {name: sum(values) / len(values) for name, values in columns.items()}


__all__ = [
    "METRICS",
    "Metric",
    "accuracy",
    "chosen_letter",
    "exact_match",
    "f1",
    "mean_scores",
    "normalize",
    "resolve_metrics",
    "rouge",
    "score",
]
