"""Scoring with a grader: ``run`` (like OpenAI's ``/graders/run``) and TRL reward functions."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from tunesdk.graders.errors import GraderError
from tunesdk.graders.kinds import Grader, Python


def validate(grader: Grader | dict[str, Any]) -> Grader:
    """A grader checked like OpenAI's ``/graders/validate``: parsed, templates and formula read,
    a Python grader's source compiled. Returns the grader (built from JSON if given a dict)."""
    checked = grader if isinstance(grader, Grader) else Grader.from_openai(grader)
    for part in _parts(checked):
        if isinstance(part, Python):
            part.function()
    return checked


def parse(data: dict[str, Any]) -> Grader:
    """A grader from its JSON (OpenAI's, or a Job file's): the kind chosen by ``type``."""
    return Grader.from_openai(data)


def sample_from(model_sample: str | dict[str, Any]) -> dict[str, Any]:
    """The ``sample`` namespace: ``output_text`` and ``output_json`` (the text parsed, if JSON)."""
    if isinstance(model_sample, str):
        return {"output_text": model_sample, "output_json": _json_or_none(model_sample)}
    text = model_sample.get("output_text")
    if not isinstance(text, str):
        raise TypeError("a sample needs an 'output_text' string, e.g. {'output_text': '42'}")
    sample = dict(model_sample)
    sample.setdefault("output_json", _json_or_none(text))
    return sample


def run(
    grader: Grader | dict[str, Any],
    sample: str | dict[str, Any],
    item: dict[str, Any] | None = None,
) -> float:
    """Score one model sample against one dataset row, like OpenAI's ``/graders/run``.

    ``sample`` is the model's text or ``{"output_text": ..., "output_json": ...}``; ``item`` is the
    dataset row the templates' ``{{item.*}}`` read.
    """
    checked = validate(grader)
    score = checked.grade(sample_from(sample), dict(item or {}))
    if math.isnan(score) or math.isinf(score):
        raise GraderError(f"it scored {score}", grader=checked.name)
    return score


#: keyword arguments TRL's GRPOTrainer adds beside the dataset's columns (not part of a row)
TRAINER_KEYWORDS = frozenset(
    {"completion_ids", "trainer_state", "log_extra", "log_metric", "environments"}
)


class GraderReward:
    """A grader as a TRL reward function: ``(prompts, completions, **columns) -> list[float]``.

    ``__name__`` is the grader's name, so TRL logs it as ``rewards/<name>/mean``. Completions are
    strings or (conversational datasets) lists of message dicts; the row each grader sees is the
    dataset's other columns, which TRL passes as keyword arguments, plus ``prompt``.
    """

    def __init__(self, grader: Grader) -> None:
        self.grader = grader
        self.__name__ = grader.name
        self.__qualname__ = grader.name

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], **columns: Any
    ) -> list[float]:
        count = len(completions)
        scores: list[float] = []
        for index, completion in enumerate(completions):
            row = {
                key: values[index]
                for key, values in columns.items()
                if key not in TRAINER_KEYWORDS
                and isinstance(values, (list, tuple))
                and len(values) == count
            }
            if "prompt" not in row and index < len(prompts):
                row["prompt"] = prompts[index]
            try:
                scores.append(self.grader.grade(sample_from(completion_text(completion)), row))
            except GraderError as exc:
                raise GraderError(
                    f"completion {index}: {exc.message}",
                    grader=exc.grader,
                    kind=exc.kind,
                    fix=exc.fix,
                ) from None
        return scores

    def __repr__(self) -> str:
        return f"GraderReward({self.grader.type} {self.grader.name!r})"


def reward_function(grader: Grader | dict[str, Any]) -> GraderReward:
    """The grader as a reward function with TRL's signature, named after the grader."""
    return GraderReward(validate(grader))


def completion_text(completion: Any) -> str:
    """A completion's text: the string, or a conversational completion's last assistant turn."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return _content_text(completion.get("content"))
    if isinstance(completion, (list, tuple)):
        messages = [m for m in completion if isinstance(m, dict)]
        replies = [m for m in messages if m.get("role") == "assistant"] or messages
        return _content_text(replies[-1].get("content")) if replies else ""
    raise TypeError(
        f"a completion must be text or a list of messages, not {type(completion).__name__}"
    )


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part if isinstance(part, str) else str(part.get("text", ""))
            for part in content
            if isinstance(part, (str, dict))
        )
    return str(content)


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _parts(grader: Grader) -> list[Grader]:
    from tunesdk.graders.kinds import Multi

    if isinstance(grader, Multi):
        return [grader, *grader.graders.values()]
    return [grader]
