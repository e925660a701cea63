"""The Fireworks evaluator a reinforcement fine-tuning job scores with, built from the job's graders.

Fireworks runs an evaluator's own Python code (``evaluatorsV2`` with a ``CODE_SNIPPETS``
criterion: ``fileContents``, ``entryFile``, ``entryFunc``). tunesdk writes that code from the
graders (`tunesdk.graders`, OpenAI's grader JSON): one self-contained ``main.py`` (standard library
only) whose ``evaluate(messages, ground_truth=None, **kwargs)`` — the reward-kit convention: the
conversation with the model's answer last, the dataset row's other columns as keyword arguments —
returns ``{"score", "reason", "metrics"}``, the weighted sum of the graders' scores.

What the generated code can score: string_check, text_similarity with fuzzy_match (the same
LCS ratio as `tunesdk.graders`), python graders (their ``grade(sample, item)``) and multi graders
over those. A score_model grader needs a judge model and other similarity metrics need libraries,
so the plan refuses them with the fix; a Python callable or a ``"module:function"`` reward cannot
be shipped at all (use ``ts.graders.Python(source=...)``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from tunesdk.errors import JobError

if TYPE_CHECKING:
    from tunesdk.job import Job

ENTRY_FILE = "main.py"
ENTRY_FUNC = "evaluate"
GRADER_TYPES = ("string_check", "text_similarity", "python", "score_model", "multi")
USE_A_GRADER = (
    "use a grader (ts.graders.StringCheck, TextSimilarity, Python or Multi): tunesdk builds the "
    "Fireworks evaluator's code from graders; put custom logic in ts.graders.Python(source=...), "
    "or train with this reward on a local backend (trl, unsloth)"
)


def graders(job: Job) -> list[dict[str, Any]]:
    """The job's rewards as grader JSON; JobError naming the reward OpenAI-style graders replace."""
    rewards = list(job.rewards)
    if not rewards:
        raise JobError(
            "Fireworks reinforcement fine-tuning needs an evaluator, and the job has no rewards",
            where="job.rewards",
            fix="set rewards=[ts.graders.StringCheck(name=..., input='{{sample.output_text}}', "
            "reference='{{item.answer}}', operation='eq')]",
        )
    found: list[dict[str, Any]] = []
    for index, reward in enumerate(rewards):
        grader = _grader_json(reward)
        where = f"job.rewards[{index}]"
        if grader is None:
            what = (
                f"the reward function {reward!r}"
                if isinstance(reward, str)
                else f"the Python callable {getattr(reward, '__qualname__', type(reward).__name__)}"
            )
            raise JobError(
                f"tunesdk cannot ship {what} to a Fireworks evaluator",
                where=where,
                fix=USE_A_GRADER,
            )
        _check_scorable(grader, where)
        found.append(grader)
    return found


def _grader_json(reward: Any) -> dict[str, Any] | None:
    to_openai = getattr(reward, "to_openai", None)
    if callable(to_openai) and not callable(reward):
        value = to_openai()
        return dict(value) if isinstance(value, dict) else None
    if isinstance(reward, dict) and reward.get("type") in GRADER_TYPES:
        return dict(reward)
    return None


def _check_scorable(grader: dict[str, Any], where: str) -> None:
    kind = grader.get("type")
    if kind == "score_model":
        raise JobError(
            f"grader {grader.get('name')!r} is a score_model grader: a Fireworks evaluator built "
            "by tunesdk runs without a judge model",
            where=where,
            fix="use string_check, text_similarity (fuzzy_match) or a Python grader on "
            "Fireworks, or train with the judge on openai or a local backend",
        )
    if kind == "text_similarity" and grader.get("evaluation_metric") != "fuzzy_match":
        raise JobError(
            f"grader {grader.get('name')!r} uses {grader.get('evaluation_metric')}: the Fireworks "
            "evaluator tunesdk builds scores text_similarity with fuzzy_match only",
            where=where,
            fix='use evaluation_metric="fuzzy_match", or compute the metric in '
            "ts.graders.Python(source=...)",
        )
    if kind == "multi":
        inner = grader.get("graders") or {}
        for key, sub in inner.items() if isinstance(inner, dict) else []:
            _check_scorable(sub, f"{where}.graders.{key}")


def source(found: list[dict[str, Any]], weights: list[float] | None) -> str:
    """The evaluator's ``main.py``."""
    spec = json.dumps({"graders": found, "weights": weights}, ensure_ascii=False)
    return _TEMPLATE.replace("__SPEC__", repr(spec))


def evaluator_body(job: Job, display_name: str) -> dict[str, Any]:
    """The ``evaluator`` object of ``POST /v1/accounts/{account}/evaluatorsV2``."""
    found = graders(job)
    names = ", ".join(str(g.get("name")) for g in found)
    return {
        "displayName": display_name,
        "description": f"tunesdk graders: {names}",
        "entryPoint": f"{ENTRY_FILE}::{ENTRY_FUNC}",
        "criteria": [
            {
                "type": "CODE_SNIPPETS",
                "name": "tunesdk_graders",
                "description": f"weighted sum of {names}",
                "codeSnippets": {
                    "language": "python",
                    "entryFile": ENTRY_FILE,
                    "entryFunc": ENTRY_FUNC,
                    "fileContents": {ENTRY_FILE: source(found, job.reward_weights)},
                },
            }
        ],
    }


_TEMPLATE = '''"""Generated by tunesdk: the job's graders as a Fireworks evaluator (standard library only)."""

import ast
import json
import re

SPEC = json.loads(__SPEC__)
_PLACEHOLDER = re.compile(r"\\{\\{\\s*([\\w.]+)\\s*\\}\\}")


def _render(template, sample, item):
    def value(match):
        space, _, path = match.group(1).partition(".")
        found = {"sample": sample, "item": item}.get(space, {})
        for part in path.split(".") if path else []:
            found = found.get(part, "") if isinstance(found, dict) else ""
        return found if isinstance(found, str) else json.dumps(found)

    return _PLACEHOLDER.sub(value, str(template))


def _lcs(a, b):
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def _formula(text, scores):
    tree = ast.parse(text.replace("^", "**"), mode="eval")

    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.Name):
            return scores[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = walk(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp):
            a, b = walk(node.left), walk(node.right)
            ops = {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}
            if type(node.op) in ops:
                return ops[type(node.op)]
            if isinstance(node.op, ast.Div):
                return a / b if b else 0.0
            if isinstance(node.op, ast.Pow):
                return a**b
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            functions = {"min": min, "max": max, "abs": abs}
            if node.func.id in functions:
                return float(functions[node.func.id](*(walk(arg) for arg in node.args)))
        raise ValueError("calculate_output: unsupported expression " + ast.dump(node))

    return walk(tree)


def grade(grader, sample, item):
    kind = grader["type"]
    if kind == "string_check":
        given = _render(grader["input"], sample, item)
        reference = _render(grader["reference"], sample, item)
        operation = grader["operation"]
        if operation == "eq":
            return float(given == reference)
        if operation == "ne":
            return float(given != reference)
        if operation == "like":
            return float(reference in given)
        return float(reference.lower() in given.lower())
    if kind == "text_similarity":
        given = _render(grader["input"], sample, item)
        reference = _render(grader["reference"], sample, item)
        total = len(given) + len(reference)
        return 2.0 * _lcs(given, reference) / total if total else 1.0
    if kind == "python":
        scope = {}
        exec(compile(grader["source"], "<grader " + grader["name"] + ">", "exec"), scope)
        return float(scope["grade"](sample, item))
    if kind == "multi":
        scores = {key: grade(sub, sample, item) for key, sub in grader["graders"].items()}
        return float(_formula(grader["calculate_output"], scores))
    raise ValueError("cannot score a " + kind + " grader")


def evaluate(messages, ground_truth=None, **kwargs):
    last = messages[-1] if messages else {}
    content = last.get("content") if isinstance(last, dict) else getattr(last, "content", "")
    sample = {"output_text": content if isinstance(content, str) else json.dumps(content)}
    try:
        sample["output_json"] = json.loads(sample["output_text"])
    except ValueError:
        pass
    item = dict(kwargs)
    if ground_truth is not None:
        item.setdefault("ground_truth", ground_truth)
    graders, weights = SPEC["graders"], SPEC["weights"] or [1.0] * len(SPEC["graders"])
    scores = {g["name"]: grade(g, sample, item) for g in graders}
    score = sum(w * scores[g["name"]] for w, g in zip(weights, graders))
    reason = ", ".join(name + "=" + format(value, ".3g") for name, value in scores.items())
    return {
        "score": score,
        "reason": reason,
        "metrics": {name: {"score": value, "reason": ""} for name, value in scores.items()},
    }
'''


__all__ = ["ENTRY_FILE", "ENTRY_FUNC", "USE_A_GRADER", "evaluator_body", "graders", "source"]
