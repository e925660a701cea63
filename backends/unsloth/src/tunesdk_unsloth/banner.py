"""Unsloth's start-of-training banner → one tunesdk ``Log`` event.

Unsloth's patched ``Trainer`` logs (through transformers' logging, as a warning) a banner such as::

    ==((====))==  Unsloth - 2x faster free finetuning | Num GPUs used = 1
       \\\\   /|    Num examples = 1,000 | Num Epochs = 1 | Total steps = 30
    O^O/ \\_/ \\    Batch size per device = 8 | Gradient accumulation steps = 1
    \\        /    Data Parallel GPUs = 1 | Total batch size (8 x 1 x 1) = 8
     "-____-"     Trainable parameters = 20,185,088 of 514,000,000 (3.93% trained)

The numbers (GPUs, examples, steps, batch, trainable parameters) become one readable line in the
run's events; the banner itself still goes to the worker log.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

from tunesdk.store import RunRecord

MARK = "Unsloth - 2x faster free finetuning"
_FIELDS = {
    "gpus": re.compile(r"Num GPUs used = ([\d,]+)"),
    "examples": re.compile(r"Num examples = ([\d,]+)"),
    "epochs": re.compile(r"Num Epochs = ([\d,]+)"),
    "total_steps": re.compile(r"Total steps = ([\d,]+)"),
    "total_batch": re.compile(r"Total batch size \([^)]*\) = ([\d,]+)"),
    "trainable": re.compile(r"Trainable parameters = ([\d,]+) of"),
    "parameters": re.compile(r"Trainable parameters = [\d,]+ of ([\d,]+)"),
}
_PERCENT = re.compile(r"\(([\d.]+)% trained\)")


def parse_banner(text: str) -> dict[str, float] | None:
    """The banner's numbers, or None when ``text`` is not Unsloth's training banner."""
    if MARK not in text:
        return None
    fields: dict[str, float] = {}
    for name, pattern in _FIELDS.items():
        match = pattern.search(text)
        if match:
            fields[name] = int(match.group(1).replace(",", ""))
    percent = _PERCENT.search(text)
    if percent:
        fields["trainable_percent"] = float(percent.group(1))
    return fields


def summarize(fields: dict[str, float]) -> str:
    """One line for the run's events."""
    parts = ["Unsloth training"]
    if "trainable" in fields and "parameters" in fields:
        share = fields.get("trainable_percent")
        parts.append(
            f"{int(fields['trainable']):,} of {int(fields['parameters']):,} parameters trainable"
            + (f" ({share:g}%)" if share is not None else "")
        )
    if "examples" in fields:
        parts.append(f"{int(fields['examples']):,} examples")
    if "total_steps" in fields:
        parts.append(f"{int(fields['total_steps']):,} steps")
    if "total_batch" in fields:
        parts.append(f"total batch {int(fields['total_batch']):,}")
    if "gpus" in fields:
        parts.append(f"{int(fields['gpus'])} GPU(s)")
    return parts[0] + ": " + ", ".join(parts[1:]) if len(parts) > 1 else parts[0]


class BannerHandler(logging.Handler):
    """Turns the banner, when it is logged, into a ``Log`` event of ``run``."""

    def __init__(self, run: RunRecord) -> None:
        super().__init__(level=logging.INFO)
        self.run = run

    def emit(self, record: logging.LogRecord) -> None:
        fields = parse_banner(record.getMessage())
        if fields:
            self.run.log(summarize(fields))


@contextmanager
def banner_events(run: RunRecord, *, emit: bool = True) -> Iterator[None]:
    """While training, listen on transformers' logger (Unsloth logs through it)."""
    if not emit:
        yield
        return
    logger = logging.getLogger("transformers")
    handler = BannerHandler(run)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
