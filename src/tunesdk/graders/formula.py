"""Multi's ``calculate_output``: a small arithmetic language, parsed with ``ast``, never eval-ed."""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable

from tunesdk.graders.errors import GraderError

FUNCTIONS: dict[str, Callable[..., float]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "floor": math.floor,
    "ceil": math.ceil,
    "exp": math.exp,
    "sqrt": math.sqrt,
    "log": math.log,
}
_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.BitXor: operator.pow,  # OpenAI's formulas write powers as ``^``
    ast.Mod: operator.mod,
}
_UNARY: dict[type[ast.unaryop], Callable[[float], float]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def parse(formula: str, *, names: set[str]) -> ast.Expression:
    """The formula's syntax tree; a ``ValueError`` names what is not allowed."""
    try:
        tree = ast.parse(formula, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"calculate_output {formula!r} is not a formula: {exc.msg}") from None
    for node in ast.walk(tree):
        _check(node, formula, names)
    return tree


def evaluate(formula: str, scores: dict[str, float], *, grader: str) -> float:
    """The formula's value with each grader key bound to its score."""
    tree = parse(formula, names=set(scores))
    try:
        value = float(_value(tree.body, scores))
    except (ArithmeticError, ValueError, TypeError) as exc:
        raise GraderError(
            f"calculate_output {formula!r} failed with scores {scores}: {exc}",
            grader=grader,
            kind="formula_parse_error",
        ) from None
    return value


def _check(node: ast.AST, formula: str, names: set[str]) -> None:
    if isinstance(node, (ast.Expression, ast.Load, ast.operator, ast.unaryop)):
        if isinstance(node, ast.operator) and type(node) not in _BINARY:
            raise ValueError(
                f"calculate_output {formula!r}: operator {type(node).__name__} is not allowed"
            )
        if isinstance(node, ast.unaryop) and type(node) not in _UNARY:
            raise ValueError(
                f"calculate_output {formula!r}: operator {type(node).__name__} is not allowed"
            )
        return
    if isinstance(node, (ast.BinOp, ast.UnaryOp)):
        return
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ValueError(
                f"calculate_output {formula!r}: only numbers are allowed, not {node.value!r}"
            )
        return
    if isinstance(node, ast.Name):
        if node.id not in names and node.id not in FUNCTIONS:
            raise ValueError(
                f"calculate_output {formula!r} names {node.id!r}, which is not a grader key "
                f"(keys: {', '.join(sorted(names))})"
            )
        return
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS or node.keywords:
            raise ValueError(
                f"calculate_output {formula!r}: only {', '.join(FUNCTIONS)} may be called, "
                "with positional arguments"
            )
        return
    raise ValueError(f"calculate_output {formula!r}: {type(node).__name__} is not allowed")


def _value(node: ast.expr, scores: dict[str, float]) -> float:
    if isinstance(node, ast.Constant):
        return float(node.value)  # type: ignore[arg-type]  # parse() allowed numbers only
    if isinstance(node, ast.Name):
        return scores[node.id]
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_value(node.left, scores), _value(node.right, scores))
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_value(node.operand, scores))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return float(FUNCTIONS[node.func.id](*(_value(arg, scores) for arg in node.args)))
    raise ValueError(f"{type(node).__name__} is not allowed")  # parse() refused it already
