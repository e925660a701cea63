"""Asking any ModelHandle for an answer, with the length limit each kind of handle understands."""

from __future__ import annotations

from typing import Any

from tunesdk.models import LocalModel, ModelHandle


def ask(
    model: ModelHandle, messages: list[dict[str, Any]], max_new_tokens: int, **generation: Any
) -> str:
    """``model.chat(messages)`` limited to ``max_new_tokens``: transformers' ``max_new_tokens`` for
    local models, the chat-completions ``max_tokens`` for provider models."""
    key = "max_new_tokens" if isinstance(model, LocalModel) else "max_tokens"
    return model.chat(messages, **{key: max_new_tokens, **generation}).strip()


def describe(model: ModelHandle) -> str:
    """A short name for a handle in reports."""
    try:
        return model.to_uri()
    except Exception:
        return repr(model)


__all__ = ["ask", "describe"]
