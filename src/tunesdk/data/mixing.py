"""Blending datasets by ratio (task data plus general data against catastrophic forgetting)."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

from tunesdk.data.records import Record
from tunesdk.errors import DataError


def _counts(total: int, weights: list[float]) -> list[int]:
    """Largest-remainder rounding: per-part counts that sum to exactly ``total``."""
    exact = [total * w for w in weights]
    counts = [math.floor(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def mix(parts: Sequence[tuple[Any, float]], seed: int = 0, size: int | None = None) -> Any:
    """A dataset drawing ``weight`` of its examples from each part, shuffled deterministically.

    ``parts`` pairs anything ``Dataset.load`` accepts with a positive weight (weights are
    normalized). Without ``size`` the mix is as large as it can be without repeating an
    example; with ``size``, parts too small for their share are repeated (whole passes first).
    The result is materialized in memory.
    """
    from tunesdk.data.dataset import Dataset

    if not parts:
        raise DataError(
            "mix() needs at least one (dataset, weight) pair",
            fix="call mix([(task, 0.8), (general, 0.2)])",
        )
    datasets = [Dataset.load(data) for data, _ in parts]
    raw = [float(weight) for _, weight in parts]
    if any(not w > 0 for w in raw):
        raise DataError(f"mix weights must be positive, got {raw}", fix="use e.g. 0.8 and 0.2")
    kinds = {ds.kind for ds in datasets}
    if len(kinds) > 1:
        raise DataError(
            f"cannot mix {' and '.join(sorted(kinds))} data",
            fix="mix datasets of one kind (all chat, or all preference pairs)",
        )
    weights = [w / sum(raw) for w in raw]
    lengths = [len(ds) for ds in datasets]
    if any(length == 0 for length in lengths):
        empty = datasets[lengths.index(0)].name
        raise DataError("cannot mix an empty dataset", where=empty, fix="drop it from the mix")
    if size is None:
        size = min(math.floor(length / w) for length, w in zip(lengths, weights, strict=True))
    rng = random.Random(seed)
    mixed: list[Record] = []
    for ds, length, count in zip(datasets, lengths, _counts(size, weights), strict=True):
        wanted = [0] * length  # how many times each position is drawn
        passes, rest = divmod(count, length)
        for position in range(length):
            wanted[position] = passes
        for position in rng.sample(range(length), rest):
            wanted[position] += 1
        for position, record in enumerate(ds):
            mixed.extend([record] * wanted[position])
    rng.shuffle(mixed)
    return Dataset.from_records(mixed, name="<mix>")
