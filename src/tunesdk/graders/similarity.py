"""TextSimilarity's metrics, each imported on first use."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

Embedder = Callable[[list[str]], list[list[float]]]


class MetricUnavailable(Exception):
    """A metric that cannot run here; ``fix`` says what to install or pass."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


def score(metric: str, text: str, reference: str, *, embedder: Embedder | None = None) -> float:
    """``metric``'s similarity of ``text`` to ``reference``, from 0.0 to 1.0."""
    if metric == "fuzzy_match":
        return fuzzy_match(text, reference)
    if metric.startswith("rouge_"):
        return rouge(metric, text, reference)
    if metric in ("bleu", "gleu", "meteor"):
        return _nltk_metric(metric, text, reference)
    if metric == "cosine":
        return cosine(text, reference, embedder)
    raise ValueError(f"unknown evaluation_metric {metric!r}")


def fuzzy_match(text: str, reference: str) -> float:
    """Normalized Indel similarity, 2·LCS/(len a + len b): ``rapidfuzz.fuzz.ratio`` / 100."""
    if not text and not reference:
        return 1.0
    try:
        from rapidfuzz import fuzz
    except ImportError:
        return 2 * _lcs_length(text, reference) / (len(text) + len(reference))
    return float(fuzz.ratio(text, reference)) / 100.0


def rouge(metric: str, text: str, reference: str) -> float:
    """ROUGE-N (1–5) or ROUGE-L F-measure from Google's ``rouge-score``."""
    name = "rougeL" if metric == "rouge_l" else "rouge" + metric.removeprefix("rouge_")
    return float(_rouge_scorer(name).score(reference, text)[name].fmeasure)


def cosine(text: str, reference: str, embedder: Embedder | None) -> float:
    """Cosine similarity of the two texts' embeddings (``embedder``: texts → vectors)."""
    if embedder is None:
        raise MetricUnavailable(
            "the cosine metric needs text embeddings, which tunesdk does not compute locally",
            fix="pass embedder=<callable texts -> vectors> to TextSimilarity, or use fuzzy_match, "
            "bleu or rouge_* locally (OpenAI computes cosine with its own embeddings)",
        )
    first, second = embedder([text, reference])
    dot = sum(a * b for a, b in zip(first, second, strict=True))
    norms = sum(a * a for a in first) ** 0.5 * sum(b * b for b in second) ** 0.5
    return float(dot / norms) if norms else 0.0


def _lcs_length(a: str, b: str) -> int:
    """Length of the longest common subsequence, bit-parallel (Hyyrö 2004): one big-integer
    step per character of ``b`` instead of a len(a)·len(b) table (~500x faster at 500 chars)."""
    if not a or not b:
        return 0
    masks: dict[str, int] = {}
    for position, char in enumerate(a):
        masks[char] = masks.get(char, 0) | (1 << position)
    full = (1 << len(a)) - 1
    row = full
    for char in b:
        matched = row & masks.get(char, 0)
        row = ((row + matched) | (row - matched)) & full
    return len(a) - row.bit_count()


@cache
def _rouge_scorer(name: str) -> Any:
    try:
        from rouge_score import rouge_scorer
    except ImportError:
        raise MetricUnavailable(
            "the rouge metrics need the rouge-score package",
            fix="pip install 'tunesdk[eval]'  (or: pip install rouge-score)",
        ) from None
    return rouge_scorer.RougeScorer([name], use_stemmer=False)


def _nltk_metric(metric: str, text: str, reference: str) -> float:
    try:
        from nltk.translate import bleu_score, gleu_score
    except ImportError:
        raise MetricUnavailable(
            f"the {metric} metric needs NLTK", fix="pip install nltk  (rouge-score installs it too)"
        ) from None
    hypothesis, references = text.split(), [reference.split()]
    if not hypothesis or not references[0]:
        return float(hypothesis == references[0])
    if metric == "bleu":
        # n-grams up to 4, or up to the shorter text's length (so identical short answers score
        # 1.0), smoothed by Chen & Cherry's method 1 so a missing n-gram order does not give 0
        order = min(4, len(hypothesis), len(references[0]))
        return float(
            bleu_score.sentence_bleu(
                references,
                hypothesis,
                weights=(1.0 / order,) * order,
                smoothing_function=bleu_score.SmoothingFunction().method1,
            )
        )
    if metric == "gleu":
        return float(gleu_score.sentence_gleu(references, hypothesis))
    _require_wordnet()
    from nltk.translate import meteor_score

    return float(meteor_score.meteor_score(references, hypothesis))


def _require_wordnet() -> None:
    import nltk

    try:
        nltk.data.find("corpora/wordnet")
    except LookupError:
        try:
            nltk.data.find("corpora/wordnet.zip")
        except LookupError:
            raise MetricUnavailable(
                "the meteor metric needs NLTK's WordNet data, which is not installed",
                fix="python -m nltk.downloader wordnet omw-1.4",
            ) from None
