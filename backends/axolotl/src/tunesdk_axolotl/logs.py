"""Axolotl's console output → tunesdk events.

Axolotl trains with the Hugging Face Trainer, whose progress callback prints each log as a Python
dict on one line: ``{'loss': 1.0226, 'learning_rate': 0.000142, 'epoch': 0.89}`` (older
transformers) or, since transformers 5, with floats formatted as strings
(``{'loss': '1.023', 'grad_norm': '0.5', ...}``). Axolotl's own logger announces the step count
(``Maximum number of steps set at 873``). The dicts carry no step number: with ``logging_steps:
1`` (which tunesdk sets) each training dict is one optimizer step, and checkpoint folders
(``checkpoint-N``) resynchronise the count. This reads the stream line by line (``\\r``-separated
progress bars included) and keeps no state other than the step count and the total.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

from tunesdk.events import Evaluation, Event, Progress

_TOTAL = re.compile(r"Maximum number of steps set at (\d+)")
_DICT = re.compile(r"\{'[^{}]*\}")
#: keys of the Trainer's final summary line, which is not a step
_SUMMARY_KEYS = frozenset({"train_runtime", "train_loss", "train_samples_per_second"})


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def parse_log_dict(line: str) -> dict[str, float] | None:
    """The numeric entries of the Trainer log dict on ``line``, or None if it holds none."""
    match = _DICT.search(line)
    if match is None:
        return None
    try:
        raw = ast.literal_eval(match.group(0))
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if not isinstance(raw, dict):
        return None
    numbers = {str(k): _number(v) for k, v in raw.items()}
    return {k: v for k, v in numbers.items() if v is not None}


@dataclass
class LogParser:
    """Feed lines in order; get the events they imply."""

    total_steps: int | None = None
    step: int = 0
    #: training processes: Axolotl logs throughput per GPU (``tokens/train_per_sec_per_gpu``)
    world_size: int = 1

    def feed(self, line: str) -> list[Event]:
        total = _TOTAL.search(line)
        if total is not None:
            self.total_steps = int(total.group(1))
            return []
        logs = parse_log_dict(line)
        if not logs:
            return []
        if "eval_loss" in logs:
            metrics = {
                k.removeprefix("eval_"): v
                for k, v in logs.items()
                if k.startswith("eval_") and k != "eval_loss"
            }
            return [Evaluation(step=self.step, eval_loss=logs["eval_loss"], metrics=metrics)]
        if "loss" in logs and not _SUMMARY_KEYS & logs.keys():
            self.step += 1
            if self.total_steps is not None:
                self.step = min(self.step, self.total_steps)
            return [
                Progress(
                    step=self.step,
                    total_steps=self.total_steps,
                    epoch=logs.get("epoch"),
                    train_loss=logs["loss"],
                    learning_rate=logs.get("learning_rate"),
                    grad_norm=logs.get("grad_norm"),
                    tokens_per_second=self._tokens_per_second(logs),
                )
            ]
        return []

    def _tokens_per_second(self, logs: dict[str, float]) -> float | None:
        """Trainable (non-padding) tokens/s over all GPUs, from Axolotl's per-GPU rate
        (logged when ``include_tkps`` is on, its default)."""
        per_gpu = logs.get("tokens/train_per_sec_per_gpu")
        return per_gpu * self.world_size if per_gpu is not None else None

    def saw_checkpoint(self, step: int) -> None:
        """A ``checkpoint-N`` folder is the Trainer's own step count: trust it."""
        self.step = max(self.step, step)


def split_stream(buffer: str) -> tuple[list[str], str]:
    """Complete lines (``\\n`` or ``\\r`` ended) and the unfinished rest of ``buffer``."""
    parts = re.split(r"\r\n|\r|\n", buffer)
    return [p for p in parts[:-1] if p.strip()], parts[-1]
