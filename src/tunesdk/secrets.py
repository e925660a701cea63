"""Redaction of secret-looking values: one rule for reprs, plans, run files, logs and errors.

A key is *secret-looking* when its last word (split on ``_``, ``-``, ``.``, spaces and camelCase)
is a credential word (``key``, ``token``, ``auth``, ``credentials``, ...) or ends in one
(``apikey``, ``hftoken``), or when any word is ``secret``/``password``. ``api_key``,
``hf_api_token``, ``wandbKey`` and ``client_secret`` are secret-looking; ``max_tokens``,
``tokenizer``, ``eos_token_id`` and tokenizer settings such as ``pad_token`` are not. Every value under such a key is shown as
``***``, whatever its type, however deep it sits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

#: what a redacted value reads as
REDACTED = "***"

#: words that make a key secret-looking (whole words, or the end of a word)
SECRET_WORDS = ("key", "token", "secret", "password")
_WHOLE_WORDS = frozenset(
    {
        *SECRET_WORDS,
        "keys",
        "secrets",
        "passwords",
        "passwd",
        "passphrase",
        "credential",
        "credentials",
        "auth",
        "authorization",
        "bearer",
        "cookie",
        "pat",
    }
)
#: words that make a key secret-looking wherever they stand (``secret_access_key_id``)
_ALWAYS = frozenset({"secret", "secrets", "password", "passwords", "passwd", "passphrase"})
#: ``<word>_token`` names of tokenizer settings
_TOKENIZER_WORDS = frozenset(
    {"pad", "eos", "bos", "unk", "sep", "cls", "mask", "special", "stop", "start", "end", "im"}
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[^A-Za-z0-9]+")


def is_secret_key(key: object) -> bool:
    """True when ``key`` names a credential (see the module docstring for the rule)."""
    if not isinstance(key, str):
        return False
    words = [w.lower() for part in _SEPARATORS.split(key) for w in _CAMEL.split(part) if w]
    if not words:
        return False
    if any(w in _ALWAYS for w in words):
        return True
    last = words[-1]
    if len(words) > 1 and words[-2] in _TOKENIZER_WORDS and last in ("token", "tokens"):
        return False  # pad_token, eos_token: tokenizer settings, not credentials
    return last in _WHOLE_WORDS or last.endswith(SECRET_WORDS)


def redact(key: object, value: Any) -> Any:
    """``***`` in place of ``value`` when ``key`` is secret-looking and a value is set."""
    if is_secret_key(key) and value not in (None, "", {}, []) and not _placeholder(value):
        return REDACTED
    return redact_tree(value)


def _placeholder(value: Any) -> bool:
    # "<from $WANDB_API_KEY>", "$HF_TOKEN", "***": says where a secret comes from, holds none
    return isinstance(value, str) and (
        (value.startswith("<") and value.endswith(">"))
        or value.startswith("$")
        or value == REDACTED
    )


def redact_tree(value: Any) -> Any:
    """A copy of ``value`` (dicts and lists, any depth) with every secret-looking key's value
    replaced by ``***``; other values are returned as they are."""
    if isinstance(value, Mapping):
        return {k: redact(k, v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_tree(v) for v in value)
    return value


def path_is_secret(parts: str | Iterable[object]) -> bool:
    """True when any part of a location (``("backend_options", "api_key")`` or
    ``"backend_options.api_key"``) is secret-looking."""
    if isinstance(parts, str):
        parts = parts.split(".")
    return any(is_secret_key(str(p)) for p in parts)


__all__ = ["REDACTED", "SECRET_WORDS", "is_secret_key", "path_is_secret", "redact", "redact_tree"]
