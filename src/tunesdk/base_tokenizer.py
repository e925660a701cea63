"""A job's base-model tokenizer for the local engines that tokenize themselves: transformers'
``AutoTokenizer`` with a readable JobError, and the job's ``chat_template`` set on it.
transformers is imported only when a tokenizer is loaded."""

from __future__ import annotations

from typing import Any

from tunesdk.errors import JobError


def load_base_tokenizer(source: str, chat_template: str | None = None, *, fix: str) -> Any:
    """The tokenizer of ``source`` (HF id or local folder); ``chat_template`` (Jinja text or a
    file) replaces its template. JobError at ``job.model`` with ``fix`` when it cannot load."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except OSError as exc:
        raise JobError(
            f"cannot load the tokenizer of {source!r}: {str(exc).splitlines()[0]}",
            where="job.model",
            fix=fix,
        ) from None
    if chat_template is not None:
        from tunesdk.paths import chat_template_text

        tokenizer.chat_template = chat_template_text(chat_template)
    return tokenizer


__all__ = ["load_base_tokenizer"]
