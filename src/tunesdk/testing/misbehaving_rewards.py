"""Reward functions that misbehave, with the one line each must end a run with.

Every backend that scores rewards runs the same cases (``pytest.mark.parametrize`` over
`MISBEHAVING_REWARDS`): a reward that raises, returns the wrong number of scores, or NaN stops
training with that line, never a hang or a traceback. The messages assume 8 completions a step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any


def _raises(prompts: list[str], completions: list[str], **_: Any) -> list[float]:
    raise KeyError("answer")


def _short(prompts: list[str], completions: list[str], **_: Any) -> list[float]:
    return [1.0]


def _nan(prompts: list[str], completions: list[str], **_: Any) -> list[float]:
    return [math.nan] * len(completions)


#: (reward, the line the run ends with) for a step of 8 completions
MISBEHAVING_REWARDS: list[tuple[Callable[..., list[float]], str]] = [
    (_raises, "reward '_raises' raised KeyError: 'answer'"),
    (_short, "reward '_short' returned 1 scores for 8 completions"),
    (_nan, "reward '_nan' returned nan at position 0"),
]

__all__ = ["MISBEHAVING_REWARDS"]
