"""OpenAI's graders as the emulator checks and runs them (its own rules, on purpose not tunesdk's).

`grader_problems` follows shared/specs/openai (GraderStringCheck, GraderTextSimilarity,
GraderPython, GraderScoreModel, GraderMulti): the type, the required fields, the enums. A multi
grader holds its graders keyed by name (``{"name": {...}}``, what ``calculate_output`` refers to,
as OpenAI's graders guide writes it); a single grader object or a list is taken too.

`run_grader` scores one sample for ``/fine_tuning/alpha/graders/run``: string_check, a
text_similarity ``fuzzy_match``, python graders (the ``grade(sample, item)`` function, run in
this process: the emulator is a local test double) and multi graders over those. Model graders
need a model, so they are refused there.
"""

from __future__ import annotations

import ast
import difflib
import json
import re
from typing import Any

STRING_OPERATIONS = ("eq", "ne", "like", "ilike")
SIMILARITY_METRICS = (
    "cosine",
    "fuzzy_match",
    "bleu",
    "gleu",
    "meteor",
    "rouge_1",
    "rouge_2",
    "rouge_3",
    "rouge_4",
    "rouge_5",
    "rouge_l",
)
REQUIRED: dict[str, tuple[str, ...]] = {
    "string_check": ("name", "input", "reference", "operation"),
    "text_similarity": ("name", "input", "reference", "evaluation_metric"),
    "python": ("name", "source"),
    "score_model": ("name", "input", "model"),
    "label_model": ("name", "input", "model", "labels", "passing_labels"),
    "multi": ("name", "graders", "calculate_output"),
}
_TEMPLATE = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")


def grader_problems(grader: Any, where: str = "grader") -> list[str]:
    """Every way ``grader`` breaks the spec, one line each (empty: it is valid)."""
    if not isinstance(grader, dict):
        return [f"{where} must be an object"]
    kind = grader.get("type")
    if kind not in REQUIRED or (kind == "label_model" and where == "grader"):
        return [f"{where}.type {kind!r} is not one of {sorted(set(REQUIRED) - {'label_model'})}"]
    problems = [
        f"{where}.{key} is required" for key in REQUIRED[kind] if grader.get(key) in (None, "")
    ]
    if kind == "string_check" and grader.get("operation") not in (None, *STRING_OPERATIONS):
        problems.append(f"{where}.operation must be one of {list(STRING_OPERATIONS)}")
    if kind == "text_similarity" and grader.get("evaluation_metric") not in (
        None,
        *SIMILARITY_METRICS,
    ):
        problems.append(f"{where}.evaluation_metric must be one of {list(SIMILARITY_METRICS)}")
    if kind == "python" and isinstance(grader.get("source"), str):
        try:
            tree = ast.parse(grader["source"])
        except SyntaxError as exc:
            problems.append(f"{where}.source does not parse: {exc.msg} (line {exc.lineno})")
        else:
            if not any(isinstance(n, ast.FunctionDef) and n.name == "grade" for n in tree.body):
                problems.append(f"{where}.source must define grade(sample, item)")
    if kind == "score_model" and not isinstance(grader.get("input"), list | type(None)):
        problems.append(f"{where}.input must be a list of messages")
    if kind == "multi":
        for name, inner in _inner(grader.get("graders")):
            problems += grader_problems(inner, f"{where}.graders.{name}")
    return problems


def _inner(graders: Any) -> list[tuple[str, Any]]:
    if isinstance(graders, dict) and "type" in graders:
        return [(str(graders.get("name", "0")), graders)]
    if isinstance(graders, dict):
        return [(str(k), v) for k, v in graders.items()]
    if isinstance(graders, list):
        return [(str(i), g) for i, g in enumerate(graders)]
    return []


def _render(template: Any, sample: dict[str, Any], item: dict[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        space, _, path = match.group(1).partition(".")
        found: Any = {"sample": sample, "item": item}.get(space, {})
        for part in path.split(".") if path else []:
            found = found.get(part, "") if isinstance(found, dict) else ""
        return found if isinstance(found, str) else json.dumps(found)

    return _TEMPLATE.sub(value, str(template))


def run_grader(grader: dict[str, Any], sample: dict[str, Any], item: dict[str, Any]) -> float:
    """The reward ``grader`` gives ``sample`` for dataset row ``item`` (ValueError if it cannot)."""
    kind = grader["type"]
    if kind == "string_check":
        given, reference = (_render(grader[k], sample, item) for k in ("input", "reference"))
        operation = grader["operation"]
        if operation == "eq":
            return float(given == reference)
        if operation == "ne":
            return float(given != reference)
        if operation == "like":
            return float(reference in given)
        return float(reference.lower() in given.lower())
    if kind == "text_similarity":
        if grader["evaluation_metric"] != "fuzzy_match":
            raise ValueError(
                f"the emulator scores text_similarity with fuzzy_match only, not "
                f"{grader['evaluation_metric']}"
            )
        given, reference = (_render(grader[k], sample, item) for k in ("input", "reference"))
        return round(difflib.SequenceMatcher(None, given, reference).ratio(), 4)
    if kind == "python":
        scope: dict[str, Any] = {}
        # the emulator is a local test double: the user's own grader source runs in-process
        exec(compile(grader["source"], "<grader>", "exec"), scope)
        return float(scope["grade"](sample, item))
    if kind == "multi":
        scores = {
            str(inner.get("name", name)): run_grader(inner, sample, item)
            for name, inner in _inner(grader["graders"])
        }
        return float(_formula(grader["calculate_output"], scores))
    raise ValueError(f"the emulator cannot run {kind} graders (they need a model)")


def _formula(text: str, scores: dict[str, float]) -> float:
    """``calculate_output``: arithmetic over the graders' names (no calls, no attributes)."""
    tree = ast.parse(text, mode="eval")
    allowed: tuple[type[ast.AST], ...] = (
        *(ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name, ast.Load),
        *(ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd),
    )
    for node in ast.walk(tree):
        if not isinstance(node, allowed):
            raise ValueError(f"calculate_output may only use + - * / ** and grader names: {text!r}")
        if isinstance(node, ast.Name) and node.id not in scores:
            raise ValueError(f"calculate_output names {node.id!r}, which is not a grader")
    # only arithmetic over known names is left after the walk above
    code = compile(tree, "<calculate_output>", "eval")
    return float(eval(code, {"__builtins__": {}}, scores))


__all__ = ["grader_problems", "run_grader"]
