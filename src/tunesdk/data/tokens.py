"""Counting tokens: with the model's tokenizer, with tiktoken for OpenAI models, or approximately.

``counter_for(tokenizer)`` accepts
- None: the approximation of 4 characters per token (stated in every report that uses it);
- a Hugging Face tokenizer: the example rendered with its chat template, as a local trainer sees it;
- a ``tiktoken.Encoding``, or a string naming an OpenAI model or a tiktoken encoding: the OpenAI
  cookbook's count for chat (message text plus 3 tokens per message and 3 for the reply).
"""

from __future__ import annotations

import math
from typing import Any, Protocol

from tunesdk.data.records import Conversation, Message, Preference, Record, record_text
from tunesdk.errors import DataError, TuneError

CHARS_PER_TOKEN = 4


class TokenCounter(Protocol):
    description: str

    def count(self, record: Record) -> int:
        """Tokens one example takes in training (for DPO: prompt plus the longer response)."""
        ...


class TemplateFailure(ValueError):
    """The tokenizer's chat template refused an example (e.g. roles that do not alternate)."""


class ApproximateCounter:
    description = f"approximation: {CHARS_PER_TOKEN} characters per token"

    def count(self, record: Record) -> int:
        if isinstance(record, Preference):
            prompt = sum(len(m.text) for m in record.prompt)
            longer = max(
                sum(len(m.text) for m in record.chosen), sum(len(m.text) for m in record.rejected)
            )
            return math.ceil((prompt + longer) / CHARS_PER_TOKEN)
        return math.ceil(len(record_text(record)) / CHARS_PER_TOKEN)


class TiktokenCounter:
    """OpenAI's own way to count chat tokens (the fine-tuning data-prep cookbook)."""

    def __init__(self, encoding: Any) -> None:
        self.encoding = encoding
        self.description = f"tiktoken {encoding.name}"

    def _messages(self, messages: list[Message]) -> int:
        encode = self.encoding.encode
        total = 0
        for message in messages:
            total += (
                3 + len(encode(message.role)) + len(encode(message.text, disallowed_special=()))
            )
            if message.name:
                total += 1 + len(encode(message.name))
            for call in message.tool_calls or ():
                total += len(encode(call.name)) + len(encode(call.arguments, disallowed_special=()))
        return total

    def count(self, record: Record) -> int:
        if isinstance(record, Conversation):
            return self._messages(record.messages) + 3
        if isinstance(record, Preference):
            prompt = self._messages(record.prompt)
            return prompt + max(self._messages(record.chosen), self._messages(record.rejected)) + 3
        return len(self.encoding.encode(record.text, disallowed_special=()))


class HFCounter:
    """Length of the example as rendered by the tokenizer's chat template (or plain encoding)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
        self.description = f"tokenizer {name}"

    def count(self, record: Record) -> int:
        from tunesdk.data.templates import render_ids

        if isinstance(record, Preference):
            prompt_and = [
                render_ids(self.tokenizer, record, side) for side in ("chosen", "rejected")
            ]
            return max(len(ids) for ids in prompt_and)
        return len(render_ids(self.tokenizer, record))


def counter_for(tokenizer: Any) -> TokenCounter:
    """The counter for what the user passed as ``tokenizer`` (see the module docstring)."""
    if tokenizer is None:
        return ApproximateCounter()
    if isinstance(tokenizer, str):
        return TiktokenCounter(_tiktoken_encoding(tokenizer))
    if (
        hasattr(tokenizer, "encode")
        and hasattr(tokenizer, "n_vocab")
        and hasattr(tokenizer, "name")
    ):
        return TiktokenCounter(tokenizer)
    if callable(getattr(tokenizer, "apply_chat_template", None)):
        return HFCounter(tokenizer)
    raise DataError(
        f"cannot count tokens with a {type(tokenizer).__name__}",
        fix="pass a Hugging Face tokenizer, a tiktoken encoding or OpenAI model name, or None",
    )


def _tiktoken_encoding(name: str) -> Any:
    try:
        import tiktoken
    except ImportError as exc:
        raise TuneError(
            "counting OpenAI tokens needs tiktoken",
            fix="pip install 'tunesdk[tokens]', or pass tokenizer=None for the approximation",
        ) from exc
    try:
        encoding = tiktoken.encoding_name_for_model(name)
    except KeyError:
        if name not in tiktoken.list_encoding_names():
            raise TuneError(
                f"{name!r} is neither an OpenAI model tiktoken knows nor a tiktoken encoding",
                fix="use a model id like 'gpt-4o-mini-2024-07-18' or an encoding like 'o200k_base'",
            ) from None
        encoding = name
    try:
        return tiktoken.get_encoding(encoding)
    except Exception as exc:  # tiktoken downloads its vocabularies on first use
        raise TuneError(
            f"could not load the tiktoken encoding {encoding!r} ({type(exc).__name__})",
            fix="tiktoken downloads its vocabulary once: run with network access, or set "
            "TIKTOKEN_CACHE_DIR to a folder that has it, or pass tokenizer=None",
        ) from None


def load_tokenizer(spec: str) -> Any:
    """What ``--tokenizer SPEC`` names, ready for ``counter_for``: a local tokenizer (or model)
    folder, a Hugging Face id in the local cache (or on the hub while it is reachable), or an
    OpenAI model / tiktoken encoding name (returned as the string)."""
    from pathlib import Path

    from tunesdk.paths import cached_snapshot, hub_reachable

    folder = Path(spec).expanduser()
    if not folder.is_dir():
        cached = cached_snapshot(spec) if "\\" not in spec else None
        if cached is not None:
            folder = cached
    if folder.is_dir():
        return _hf_tokenizer(str(folder), spec)
    if _tiktoken_knows(spec):
        return spec
    if spec.count("/") == 1 and not spec.startswith((".", "/", "~")) and hub_reachable():
        return _hf_tokenizer(spec, spec)
    raise DataError(
        f"tokenizer {spec!r} is not a folder, not a Hugging Face model in the local cache, and "
        "not an OpenAI model or tiktoken encoding name",
        where="tokenizer",
        fix="give the folder of a tokenizer or model (one written by save_pretrained), e.g. "
        "--tokenizer ./tiny-llama, or leave it out for the approximation (4 characters per token)",
    )


def _hf_tokenizer(source: str, spec: str) -> Any:
    try:
        from transformers import AutoTokenizer
    except ImportError as exc:
        raise TuneError(
            "counting tokens with a Hugging Face tokenizer needs transformers",
            fix="pip install transformers (or pip install tunesdk-trl)",
        ) from exc
    try:
        return AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise DataError(
            f"cannot load a tokenizer from {spec!r}: {str(exc).splitlines()[0]}",
            where="tokenizer",
            fix="point at a folder that holds tokenizer.json / tokenizer_config.json",
        ) from None


def _tiktoken_knows(name: str) -> bool:
    try:
        import tiktoken
    except ImportError:
        return False
    try:
        tiktoken.encoding_name_for_model(name)
    except KeyError:
        return name in tiktoken.list_encoding_names()
    return True
