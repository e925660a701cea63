"""Evaluators (``evaluatorsV2``) as the emulator checks them: fireworks-ai's ``Evaluator`` type.

An evaluator holds ``criteria``; a ``CODE_SNIPPETS`` criterion carries ``codeSnippets`` with the
``language``, the ``fileContents`` (file name -> source), the ``entryFile`` among them and the
``entryFunc`` it defines. The emulator parses the entry file (it never runs it) and checks that the
entry function exists and takes the conversation as its first argument.
"""

from __future__ import annotations

import ast
from typing import Any

CRITERION_TYPES = frozenset({"TYPE_UNSPECIFIED", "CODE_SNIPPETS"})


def evaluator_problems(spec: dict[str, Any]) -> list[str]:
    """Every way ``spec`` (the ``evaluator`` object) is refused, one line each."""
    criteria = spec.get("criteria")
    if not isinstance(criteria, list) or not criteria:
        return ["evaluator.criteria must list at least one criterion"]
    problems: list[str] = []
    for index, criterion in enumerate(criteria):
        at = f"evaluator.criteria[{index}]"
        if not isinstance(criterion, dict) or criterion.get("type") not in CRITERION_TYPES:
            problems.append(f"{at}.type must be one of {sorted(CRITERION_TYPES)}")
            continue
        if criterion["type"] == "CODE_SNIPPETS":
            problems += _code_problems(criterion.get("codeSnippets"), f"{at}.codeSnippets")
    return problems


def _code_problems(code: Any, at: str) -> list[str]:
    if not isinstance(code, dict):
        return [f"{at} is required for a CODE_SNIPPETS criterion"]
    if code.get("language") != "python":
        return [f"{at}.language {code.get('language')!r} is not supported (python)"]
    files = code.get("fileContents")
    entry_file, entry_func = code.get("entryFile"), code.get("entryFunc")
    if not isinstance(files, dict) or entry_file not in files:
        return [f"{at}.entryFile {entry_file!r} is not in fileContents"]
    try:
        tree = ast.parse(str(files[entry_file]), filename=str(entry_file))
    except SyntaxError as exc:
        return [f"{at}: {entry_file} does not parse: {exc.msg} (line {exc.lineno})"]
    found = next(
        (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == entry_func), None
    )
    if found is None:
        return [f"{at}.entryFunc {entry_func!r} is not defined in {entry_file}"]
    if not found.args.args:
        return [f"{at}: {entry_func}() must take the messages as its first argument"]
    return []


__all__ = ["evaluator_problems"]
