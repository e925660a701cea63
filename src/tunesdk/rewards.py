"""Reward functions for GRPO: what a Job's ``rewards`` may hold and how a worker gets callables.

A reward is one of

- a Python callable with TRL's signature ``(prompts, completions, **columns) -> list[float]``
  (the dataset's other columns, e.g. ``answer``, arrive as keyword arguments, one value per
  completion);
- an importable ``"module:function"`` string (what a YAML job names and what reaches a worker);
- a grader from `tunesdk.graders` (a pydantic model), or its JSON form (a mapping with ``type``).

A job is written to a file for its worker, so a callable is stored as its ``"module:qualname"``
reference; a lambda, a nested function or one defined in ``__main__`` cannot be imported there and
is refused with the fix. Importing the graders module happens only when a grader is used.
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from tunesdk.errors import JobError

if TYPE_CHECKING:
    from tunesdk.job import Job

RewardFunction = Callable[..., Sequence[float | None]]

_REFERENCE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")

_FIX = (
    "define the function in a module the worker can import (a .py file on PYTHONPATH, or your "
    'package) and name it as "module:function", or use a grader from tunesdk.graders'
)


def is_grader(reward: Any) -> bool:
    """Whether ``reward`` is a grader (a pydantic model, as `tunesdk.graders` defines them)."""
    return isinstance(reward, BaseModel)


def check_reward(reward: Any, index: int = 0) -> Any:
    """``reward`` as a Job keeps it: a callable or grader unchanged, a ``"module:function"``
    string checked for shape (not imported), a grader's JSON parsed into the grader.
    ValueError naming the reward otherwise (pydantic turns it into the Job's error)."""
    if isinstance(reward, str):
        text = reward.strip()
        if not _REFERENCE.match(text):
            raise ValueError(
                f"rewards[{index}] is {text[:60]!r}, not a 'module:function' reference: write "
                'e.g. "my_rewards:correct_answer" (the module importable by the worker)'
            )
        return text
    if is_grader(reward) or (callable(reward) and not isinstance(reward, type)):
        return reward
    if isinstance(reward, Mapping):
        return _grader_from_json(dict(reward), index)
    raise ValueError(
        f"rewards[{index}] is a {type(reward).__name__}: give a callable, a "
        '"module:function" string or a grader from tunesdk.graders'
    )


def _grader_from_json(data: dict[str, Any], index: int) -> Any:
    graders = importlib.import_module("tunesdk.graders")
    parse = getattr(graders, "parse", None) or getattr(graders, "parse_grader", None)
    if parse is None:  # pragma: no cover - the graders module defines one
        raise ValueError(f"rewards[{index}]: graders cannot be read from JSON in this version")
    try:
        return parse(data)
    except Exception as exc:  # the graders module's own validation message
        raise ValueError(f"rewards[{index}] is not a valid grader: {exc}") from None


def reference(function: Callable[..., Any]) -> str:
    """The importable ``"module:qualname"`` of ``function``; JobError with the fix when a worker
    could not import it (a lambda, a nested function, one defined in ``__main__``)."""
    module = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", None) or getattr(function, "__name__", None)
    name = qualname or type(function).__name__
    if not module or not qualname:
        raise JobError(
            f"reward {name!r} has no importable name (a {type(function).__name__} object)",
            where="job.rewards",
            fix=_FIX,
        )
    if "<lambda>" in qualname or "<locals>" in qualname:
        kind = "a lambda" if "<lambda>" in qualname else "a function defined inside another"
        raise JobError(
            f"reward {name!r} is {kind}, which the training worker cannot import",
            where="job.rewards",
            fix=_FIX,
        )
    if module == "__main__":
        raise JobError(
            f"reward {name!r} is defined in __main__ (your script or notebook), which the "
            "training worker, a separate process, cannot import",
            where="job.rewards",
            fix=_FIX,
        )
    return f"{module}:{qualname}"


def reward_spec(reward: Any) -> str | dict[str, Any]:
    """What a Job stores for ``reward`` in its JSON: a ``"module:function"`` string or the
    grader's JSON."""
    if isinstance(reward, str):
        return reward
    if is_grader(reward):
        data: dict[str, Any] = reward.model_dump(mode="json", exclude_none=True)
        return data
    return reference(reward)


def check_worker_rewards(job: Job) -> None:
    """JobError (at plan, before anything starts) for a reward a local training worker cannot
    run: a callable it could not import (see `reference`), or a grader that needs a Python object
    the job's JSON does not carry (a ScoreModel's judge callable, a cosine embedder)."""
    for index, reward in enumerate(job.rewards):
        reward_spec(reward)
        if is_grader(reward):
            from tunesdk.graders.portable import worker_problem

            problem = worker_problem(reward)
            if problem is not None:
                what, fix = problem
                raise JobError(what, where=f"job.rewards[{index}]", fix=fix)


def reward_name(reward: Any, index: int = 0) -> str:
    """A short name for ``reward`` in logs and metrics (``rewards/<name>/mean``)."""
    if isinstance(reward, str):
        return reward.rsplit(":", 1)[-1].rsplit(".", 1)[-1]
    if is_grader(reward):
        return str(getattr(reward, "name", None) or f"grader_{index}")
    return str(getattr(reward, "__name__", None) or f"reward_{index}")


def import_reward(text: str) -> RewardFunction:
    """The function a ``"module:function"`` reference names; JobError naming what is missing."""
    module_name, _, qualname = text.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise JobError(
            f"reward {text!r}: cannot import module {module_name!r} ({exc})",
            where="job.rewards",
            fix="put the module on PYTHONPATH (or install its package) where the training runs",
        ) from None
    for part in qualname.split("."):
        if not hasattr(target, part):
            raise JobError(
                f"reward {text!r}: module {module_name!r} has no {qualname!r}",
                where="job.rewards",
                fix="check the function's name (module:function)",
            )
        target = getattr(target, part)
    if not callable(target):
        raise JobError(
            f"reward {text!r} is a {type(target).__name__}, not a function",
            where="job.rewards",
            fix="name a function (prompts, completions, **columns) -> list[float]",
        )
    function: RewardFunction = target
    return function


def resolve_reward(reward: Any, index: int = 0) -> RewardFunction:
    """One reward as a callable with TRL's signature; graders go through
    ``tunesdk.graders.reward_function`` (imported only here)."""
    if isinstance(reward, str):
        function = import_reward(reward)
    elif is_grader(reward):
        graders = importlib.import_module("tunesdk.graders")
        function = graders.reward_function(reward)
    else:
        function = reward
    return function


def resolve_rewards(job: Job) -> list[RewardFunction]:
    """The job's rewards as callables, in order, each named for logs (``__name__``)."""
    return [resolve_reward(reward, i) for i, reward in enumerate(job.rewards)]


def required_columns(reward: Any) -> frozenset[str]:
    """Dataset columns ``reward`` needs on every row: a grader's ``required_columns()``; for a
    callable, its keyword-only parameters without defaults (what can be known without running
    it); nothing for a reference that is not imported."""
    if is_grader(reward):
        columns = getattr(reward, "required_columns", None)
        return frozenset(columns()) if callable(columns) else frozenset()
    if isinstance(reward, str):
        return frozenset()
    import inspect

    try:
        params = inspect.signature(reward).parameters.values()
    except (TypeError, ValueError):
        return frozenset()
    return frozenset(
        p.name
        for p in params
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is inspect.Parameter.empty
    )


class RewardError(RuntimeError):
    """A reward function misbehaved: raised, returned the wrong number of scores, or NaN."""


def checked(function: RewardFunction, name: str) -> RewardFunction:
    """``function`` wrapped so that a failure is one readable `RewardError` line: an exception
    inside it, a result that is not one float per completion, or NaN/inf."""

    def reward(prompts: list[Any], completions: list[Any], **columns: Any) -> list[float | None]:
        try:
            scores = function(prompts=prompts, completions=completions, **columns)
        except RewardError:
            raise
        except Exception as exc:
            detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            raise RewardError(
                f"reward {name!r} raised {type(exc).__name__}" + (f": {detail}" if detail else "")
            ) from None
        try:
            values = list(scores)
        except TypeError:
            raise RewardError(
                f"reward {name!r} returned a {type(scores).__name__}, not a list of floats "
                f"(one per completion, {len(completions)} here)"
            ) from None
        if len(values) != len(completions):
            raise RewardError(
                f"reward {name!r} returned {len(values)} scores for {len(completions)} "
                "completions: return one float per completion"
            )
        out: list[float | None] = []
        for i, value in enumerate(values):
            if value is None:  # TRL: None = this reward does not apply to the sample
                out.append(None)
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise RewardError(
                    f"reward {name!r} returned {type(value).__name__} {str(value)[:40]!r} at "
                    f"position {i}: return floats"
                ) from None
            if not math.isfinite(number):
                raise RewardError(
                    f"reward {name!r} returned {number} at position {i}: return finite floats"
                )
            out.append(number)
        return out

    reward.__name__ = name
    reward.__qualname__ = name
    return reward


__all__ = [
    "RewardError",
    "RewardFunction",
    "check_reward",
    "check_worker_rewards",
    "checked",
    "import_reward",
    "is_grader",
    "reference",
    "required_columns",
    "resolve_reward",
    "resolve_rewards",
    "reward_name",
    "reward_spec",
]


def check_reward_columns(job: Job) -> None:
    """DataError naming file:line when a row lacks a column a reward needs (a grader's
    ``required_columns()``, a callable's keyword-only parameters): before anything runs."""
    from tunesdk.data import Dataset
    from tunesdk.errors import DataError

    needs = {reward_name(r, i): required_columns(r) for i, r in enumerate(job.rewards)}
    needs = {name: cols for name, cols in needs.items() if cols}
    if not needs:
        return
    for role in ("data", "eval_data"):
        source = getattr(job, role)
        if source is None:
            continue
        missing: list[str] = []
        first_fix = ""
        for record in Dataset.load(source):
            meta = getattr(record, "meta", {}) or {}
            for name, columns in needs.items():
                absent = sorted(c for c in columns if c not in meta)
                if absent:
                    where = str(record.source) if record.source else role
                    missing.append(f"{where}: no {', '.join(map(repr, absent))} (for {name!r})")
                    first_fix = first_fix or absent[0]
        if missing:
            more = f" (and {len(missing) - 3} more rows)" if len(missing) > 3 else ""
            raise DataError(
                f"{len(missing)} row(s) lack a column a reward reads: "
                + "; ".join(missing[:3])
                + more,
                where=f"job.{role}",
                fix=f"add {first_fix!r} to every row (the reward receives it as a keyword "
                "argument), or drop the rows (nothing was started or uploaded)",
            )
