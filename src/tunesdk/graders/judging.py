"""ScoreModel's local judge: ask it, then read a score out of its answer."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from tunesdk.graders.errors import GraderError

if TYPE_CHECKING:
    from tunesdk.graders.kinds import Messages, ScoreModel

_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
_OBJECT = re.compile(r"\{.*\}", re.S)
#: the keys a judge's JSON answer may hold its score under (OpenAI's structured output: result)
SCORE_KEYS = ("result", "score", "reward", "grade")


def ask(grader: ScoreModel, messages: Messages) -> str:
    """The judge's answer to ``messages``: ``grader.judge``, else ``grader.model`` as a URI."""
    judge = grader.judge if grader.judge is not None else _judge_from_uri(grader)
    try:
        if hasattr(judge, "chat"):
            answer = judge.chat(messages, **generation_options(grader, judge))
        else:
            answer = judge(messages)
    except GraderError:
        raise
    except Exception as exc:
        raise GraderError(
            f"its judge failed: {type(exc).__name__}: {exc}",
            grader=grader.name,
            kind="model_grader_server_error",
        ) from None
    if not isinstance(answer, str):
        raise GraderError(
            f"its judge answered {type(answer).__name__}, not text",
            grader=grader.name,
            kind="model_grader_parse_error",
        )
    return answer


def generation_options(grader: ScoreModel, judge: Any) -> dict[str, Any]:
    """``sampling_params`` as a local model's ``chat()`` options (transformers' ``generate``
    names); other judges get none (a callable judge owns its sampling)."""
    from tunesdk.models import LocalModel

    params = grader.sampling_params
    if params is None or not isinstance(judge, LocalModel):
        return {}
    options: dict[str, Any] = {}
    if params.max_completions_tokens is not None:
        options["max_new_tokens"] = params.max_completions_tokens
    if params.temperature is not None:
        options["do_sample"] = params.temperature > 0
        if params.temperature > 0:
            options["temperature"] = params.temperature
            if params.top_p is not None:
                options["top_p"] = params.top_p
    return options


def parse_score(answer: str, *, grader: str) -> float:
    """``{"result": 0.8}`` (or score/reward/grade) → 0.8; else the answer's first number."""
    found = _from_json(answer)
    if found is None:
        match = _NUMBER.search(answer)
        found = float(match.group(0)) if match else None
    if found is None:
        shown = answer if len(answer) <= 80 else answer[:77] + "..."
        raise GraderError(
            f"its judge's answer holds no score: {shown!r}",
            grader=grader,
            kind="model_grader_parse_error",
            fix='have the judge answer just a number, or JSON like {"result": 0.5}',
        )
    return found


def _from_json(answer: str) -> float | None:
    match = _OBJECT.search(answer)
    if match is None:
        return None
    try:
        data: Any = json.loads(match.group(0))
    except ValueError:
        return None
    if isinstance(data, dict):
        for key in SCORE_KEYS:
            value = data.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
    return None


def _judge_from_uri(grader: ScoreModel) -> Any:
    if ":" not in grader.model:
        raise GraderError(
            f"it has no local judge: model {grader.model!r} is an OpenAI model name",
            grader=grader.name,
            kind="model_grader_server_error",
            fix="pass judge=<callable messages -> text> or a model handle, or set model to a "
            "tunesdk model URI such as 'local:/path/to/model'",
        )
    from tunesdk.models import load_model

    return load_model(grader.model)
