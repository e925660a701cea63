"""OpenAI's grader templates: ``{{sample.output_text}}``, ``{{item.answer}}``, ``{{item.a.b[0]}}``.

Only the ``sample`` and ``item`` namespaces exist. ``item`` is the dataset row; ``sample`` holds
``output_text`` (the completion) and ``output_json`` (the completion parsed as JSON, when it is).
A value that is not a string is substituted as JSON.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tunesdk.graders.errors import GraderError

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.S)
_SEGMENT = re.compile(r"\.([A-Za-z_][\w\-]*)|\[(\d+)\]|\[\"([^\"]*)\"\]|\['([^']*)'\]")
NAMESPACES = ("item", "sample")
#: the variables OpenAI's ``sample`` namespace defines
SAMPLE_VARIABLES = ("output_text", "output_json", "output_tools", "choices")

Path = tuple[str, tuple[str | int, ...]]


def parse_placeholder(expression: str) -> Path:
    """``"item.a.b[0]"`` → ``("item", ("a", "b", 0))``; a ``ValueError`` says what is wrong."""
    text = expression.strip()
    head = re.match(r"\w*", text)
    namespace = head.group(0) if head else ""
    rest = text[len(namespace) :]
    if namespace not in NAMESPACES:
        raise ValueError(
            f"template {{{{{text}}}}} names namespace {namespace!r}: only 'item' (the dataset row) "
            "and 'sample' (the model's answer) exist, e.g. {{item.answer}}, {{sample.output_text}}"
        )
    keys: list[str | int] = []
    position = 0
    for match in _SEGMENT.finditer(rest):
        if match.start() != position:
            break
        name, index, double, single = match.groups()
        keys.append(int(index) if index is not None else (name or double or single or ""))
        position = match.end()
    if position != len(rest) or not keys:
        raise ValueError(
            f"template {{{{{text}}}}} is not a variable path like {{{{{namespace}.field}}}} "
            f"or {{{{{namespace}.field.sub[0]}}}}"
        )
    if namespace == "sample" and keys[0] not in SAMPLE_VARIABLES:
        raise ValueError(
            f"template {{{{{text}}}}}: the sample namespace has {', '.join(SAMPLE_VARIABLES)}, "
            f"not {keys[0]!r}"
        )
    return namespace, tuple(keys)


def placeholders(template: str) -> list[Path]:
    """Every variable a template names, checked (``ValueError`` on a bad one)."""
    return [parse_placeholder(match.group(1)) for match in _PLACEHOLDER.finditer(template)]


def item_columns(template: str) -> set[str]:
    """The top-level dataset columns a template reads (``{{item.answer.x}}`` → ``answer``)."""
    return {str(keys[0]) for namespace, keys in placeholders(template) if namespace == "item"}


def lookup(path: Path, sample: dict[str, Any], item: dict[str, Any], *, grader: str) -> Any:
    """The value a placeholder names; a ``GraderError`` (``invalid_variable_error``) if absent."""
    namespace, keys = path
    value: Any = item if namespace == "item" else sample
    walked = namespace
    for key in keys:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            shown = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in keys)
            if namespace == "item" and walked == "item":
                fix = f"give every row the {key!r} column, or change the template"
                where = f"the dataset row has no {key!r} column (columns: {_names(item)})"
            elif walked == "sample.output_json" and value is None:
                fix = "ask for JSON in the prompt, or grade {{sample.output_text}}"
                where = "the model's answer is not JSON"
            else:
                fix = "check the template against the data"
                where = f"{walked} has no {key!r}"
            raise GraderError(
                f"template {{{{{namespace}{shown}}}}}: {where}",
                grader=grader,
                kind="invalid_variable_error",
                fix=fix,
            ) from None
        walked += f"[{key}]" if isinstance(key, int) else f".{key}"
    return value


def render(template: str, sample: dict[str, Any], item: dict[str, Any], *, grader: str) -> str:
    """The template with every placeholder replaced by its value (JSON for non-strings)."""

    def substitute(match: re.Match[str]) -> str:
        value = lookup(parse_placeholder(match.group(1)), sample, item, grader=grader)
        if isinstance(value, str):
            return value
        return json.dumps(value, ensure_ascii=False)

    return _PLACEHOLDER.sub(substitute, template)


def _names(item: dict[str, Any]) -> str:
    return ", ".join(sorted(map(str, item))) or "none"
