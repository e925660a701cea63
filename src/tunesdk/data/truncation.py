"""What cutting tokenized examples at ``max_seq_length`` left to learn, in words: a DataError
when no example keeps a learned token, warnings for the examples cut and dropped otherwise.
Local backends tokenize their own way and count; this says it the same way for all of them."""

from __future__ import annotations

from tunesdk.errors import DataError


def truncation_warnings(
    *, name: str, limit: int, total: int, over: int, dropped: int, shortest: int | None
) -> list[str]:
    """Warnings for ``over`` of ``total`` examples of ``name`` (``data`` or ``eval_data``) longer
    than ``limit`` tokens (cut at the right) and ``dropped`` left with nothing to learn;
    ``shortest`` is the shortest example's length. DataError when every example was dropped."""
    if dropped == total:
        if total and over == total:
            raise DataError(
                f"all {total} examples in {name} are longer than max_seq_length={limit} "
                f"tokens (the shortest has {shortest})",
                where=f"job.{name}",
                fix=f"raise max_seq_length to at least {shortest} or shorten the examples",
            )
        raise DataError(
            f"no example in {name} has a token to learn (no assistant reply within "
            f"max_seq_length={limit})",
            where=f"job.{name}",
            fix="add assistant turns, set train_on_inputs=True, or raise max_seq_length",
        )
    warnings = []
    if over:
        warnings.append(
            f"{over} of {total} examples in {name} are longer than max_seq_length={limit} "
            "and were cut at the right"
        )
    if dropped:
        warnings.append(
            f"{dropped} examples in {name} had nothing to learn within max_seq_length={limit} "
            "and were dropped"
        )
    return warnings


__all__ = ["truncation_warnings"]
