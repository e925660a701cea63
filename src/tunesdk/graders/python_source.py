"""Python graders: compile the user's ``grade(sample, item)`` and call it with clear errors.

It is the user's own code, run in this process (like a reward function), in a fresh namespace.
"""

from __future__ import annotations

import ast
import math
import traceback
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from tunesdk.graders.errors import GraderError

Grade = Callable[[dict[str, Any], dict[str, Any]], Any]


@lru_cache(maxsize=128)
def load_grade(source: str, *, grader: str) -> Grade:
    """Run ``source`` in a namespace of its own and return its ``grade`` function (cached: a
    grader's source runs once per process)."""
    filename = f"<python grader {grader!r}>"
    try:
        code = compile(source, filename, "exec")
    except SyntaxError as exc:
        raise GraderError(
            f"its source does not compile: {exc.msg} (line {exc.lineno})",
            grader=grader,
            kind="python_grader_runtime_error",
        ) from None
    namespace: dict[str, Any] = {"__name__": f"tunesdk_grader_{grader}"}
    try:
        exec(code, namespace)  # the user's own grader code, like an imported reward module
    except Exception as exc:
        raise _raised(exc, grader, "while its source ran") from None
    grade = namespace.get("grade")
    if not callable(grade):
        raise GraderError(
            "its source defines no grade(sample, item) function",
            grader=grader,
            kind="python_grader_runtime_error",
            fix="def grade(sample: dict, item: dict) -> float: ...",
        )
    return grade


def call_grade(grade: Grade, sample: dict[str, Any], item: dict[str, Any], *, grader: str) -> float:
    """``grade(sample, item)`` as a finite float; a ``GraderError`` naming the grader otherwise."""
    try:
        value = grade(sample, item)
    except Exception as exc:
        raise _raised(exc, grader, "in grade()") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GraderError(
            f"grade() returned {type(value).__name__} {value!r}, not a number",
            grader=grader,
            kind="python_grader_runtime_error",
        )
    if math.isnan(value) or math.isinf(value):
        raise GraderError(
            f"grade() returned {value}", grader=grader, kind="python_grader_runtime_error"
        )
    return float(value)


def subscripted_columns(source: str) -> set[str]:
    """The keys the source reads as ``item["key"]`` (best effort; a bad source reads none)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {
        node.slice.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Name)
        and node.value.id == "item"
        and isinstance(node.slice, ast.Constant)
        and isinstance(node.slice.value, str)
    }


def _raised(exc: Exception, grader: str, when: str) -> GraderError:
    line = _user_line(exc, grader)
    at = f" at line {line}" if line else ""
    return GraderError(
        f"{type(exc).__name__} {when}{at}: {exc}",
        grader=grader,
        kind="python_grader_runtime_error",
    )


def _user_line(exc: Exception, grader: str) -> int | None:
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if f.filename == f"<python grader {grader!r}>"
    ]
    return frames[-1].lineno if frames else None
