"""Loading YAML from outside (job files, ``--set`` values) without letting it blow up.

``yaml.safe_load`` already refuses ``!!python/...`` tags, but an alias bomb ("billion laughs":
anchors that reference anchors, nine deep) loads into a small graph of shared objects that expands
exponentially as soon as anything walks it — validation, a repr, a JSON dump. `load_yaml` composes
the document, measures how many values it would expand to, and refuses it past a bound, before a
single Python object is built. Recursive aliases are refused too.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

#: the most values (scalars, lists, mappings, counted after alias expansion) a document may hold;
#: a job file is a few dozen, a long inline ``data:`` list a few thousand
MAX_EXPANDED_NODES = 100_000


class YAMLRefused(ValueError):
    """The YAML is well formed but refused (alias expansion too large, recursive aliases)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        super().__init__(message)


def load_yaml(text: str, *, max_nodes: int = MAX_EXPANDED_NODES) -> Any:
    """Parse ``text`` like ``yaml.safe_load``; raise `YAMLRefused` when aliases would expand it
    past ``max_nodes`` values or refer to themselves, and ``yaml.YAMLError`` on bad syntax or
    unsafe tags."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, max_nodes)
        return loader.construct_document(node)
    except RecursionError:
        raise YAMLRefused("the YAML nests too deep to load") from None
    finally:
        loader.dispose()


def _check_expansion(root: Node, limit: int) -> None:
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise YAMLRefused(
                "a YAML alias refers to the value that contains it (a recursive structure); "
                "job files cannot hold one",
                line=node.start_mark.line + 1,
            )
        active.add(key)
        total = 1
        if isinstance(node, SequenceNode):
            children: list[Node] = list(node.value)
        elif isinstance(node, MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            children = []
        for child in children:
            total += size(child)
            if total > limit:
                raise YAMLRefused(
                    f"the YAML expands to more than {limit:,} values through anchors and aliases "
                    "(&name / *name) — refused, as an alias bomb would hang every command",
                    line=node.start_mark.line + 1,
                )
        active.discard(key)
        sizes[key] = total
        return total

    size(root)


__all__ = ["MAX_EXPANDED_NODES", "YAMLRefused", "load_yaml"]
