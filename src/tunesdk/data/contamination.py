"""Finding training examples that overlap the eval set, by word n-grams.

The test is the one GPT-3 and Llama reports use: a training example is contaminated when it
shares any n consecutive words (lower-cased, punctuation dropped) with an eval example; n = 13
by default. Eval examples shorter than n words would never match, so they are compared whole
when they have at least ``min_words`` words (8 by default).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tunesdk.data.records import record_text

_WORD = re.compile(r"\w+")


class Overlap(BaseModel):
    """One contaminated training example and the eval example it overlaps."""

    train_file: str
    train_line: int
    eval_file: str
    eval_line: int
    ngram: str


class ContaminationReport(BaseModel):
    """What ``decontaminate`` found; ``dataset`` is the training data to use next."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    n: int
    train_examples: int
    eval_examples: int
    overlaps: list[Overlap] = Field(default_factory=list)
    dropped: bool = False
    dataset: Any = Field(default=None, exclude=True, repr=False)

    @property
    def contaminated(self) -> int:
        return len(self.overlaps)

    def render(self) -> str:
        head = (
            f"{self.contaminated} of {self.train_examples} training example(s) share a "
            f"{self.n}-gram with the {self.eval_examples} eval example(s)"
        )
        if self.dropped and self.overlaps:
            head += " (dropped)"
        lines = [head]
        for hit in self.overlaps[:50]:
            lines.append(
                f"  {hit.train_file}:{hit.train_line}  ~  {hit.eval_file}:{hit.eval_line}"
                f'  "{hit.ngram}"'
            )
        if len(self.overlaps) > 50:
            lines.append(f"  ... and {len(self.overlaps) - 50} more")
        return "\n".join(lines)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def decontaminate(
    train: Any, eval: Any, n: int = 13, drop: bool = False, min_words: int = 8
) -> ContaminationReport:
    """Report training examples sharing an ``n``-gram with ``eval``; ``drop`` removes them.

    ``train`` and ``eval`` are anything ``Dataset.load`` accepts. The report lists each
    contaminated training line with the eval line it overlaps; ``report.dataset`` is the
    training data without them when ``drop=True`` (else the training data unchanged).
    """
    from tunesdk.data.dataset import Dataset

    train_ds, eval_ds = Dataset.load(train), Dataset.load(eval)
    grams: dict[int, tuple[str, int]] = {}  # hash of a word n-gram -> eval file, line
    sizes: set[int] = set()
    eval_count = 0
    for record in eval_ds:
        eval_count += 1
        words = _words(record_text(record))
        size = n if len(words) >= n else len(words)
        if size < min(min_words, n):
            continue
        sizes.add(size)
        where = (record.source.file, record.source.line) if record.source else ("<eval>", 0)
        for gram in _grams(words, size):
            grams.setdefault(hash(gram), where)
    overlaps: list[Overlap] = []
    positions: set[int] = set()
    train_count = 0
    ordered_sizes = sorted(sizes, reverse=True)
    for position, record in enumerate(train_ds):
        train_count += 1
        words = _words(record_text(record))
        hit = _first_hit(words, ordered_sizes, grams)
        if hit is None:
            continue
        start, size = hit
        eval_file, eval_line = grams[hash(tuple(words[start : start + size]))]
        source = record.source
        overlaps.append(
            Overlap(
                train_file=source.file if source else "<train>",
                train_line=source.line if source else position + 1,
                eval_file=eval_file,
                eval_line=eval_line,
                ngram=" ".join(words[start : start + size]),
            )
        )
        positions.add(position)
    return ContaminationReport(
        n=n,
        train_examples=train_count,
        eval_examples=eval_count,
        overlaps=overlaps,
        dropped=drop,
        dataset=train_ds.exclude(frozenset(positions)) if drop else train_ds,
    )


def _grams(words: list[str], size: int) -> zip[tuple[str, ...]]:
    """Every run of ``size`` consecutive words, as tuples (built in C by ``zip``)."""
    return zip(*(words[offset:] for offset in range(size)), strict=False)


def _first_hit(
    words: list[str], sizes: list[int], grams: dict[int, tuple[str, int]]
) -> tuple[int, int] | None:
    for size in sizes:
        for start, gram in enumerate(_grams(words, size)):
            if hash(gram) in grams:
                return start, size
    return None
