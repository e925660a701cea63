"""Redaction of secret-looking values: one rule for reprs, plans, run files, logs and errors.

A key is *secret-looking* when one of its words (split on ``_``, ``-``, ``.``, spaces and
camelCase) is a credential word (``key``, ``token``, ``secret``, ``password``, ...) or ends in one
(``apikey``, ``hftoken``). ``max_tokens`` and ``tokenizer`` are not secret-looking; ``api_key``,
``hf_api_token``, ``wandbKey`` and ``client_secret`` are. Every value under such a key is shown as
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
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[^A-Za-z0-9]+")


def is_secret_key(key: object) -> bool:
    """True when ``key`` names a credential (see the module docstring for the rule)."""
    if not isinstance(key, str):
        return False
    words = [w.lower() for part in _SEPARATORS.split(key) for w in _CAMEL.split(part) if w]
    return any(w in _WHOLE_WORDS or w.endswith(SECRET_WORDS) for w in words)


def redact(key: object, value: Any) -> Any:
    """``***`` in place of ``value`` when ``key`` is secret-looking and a value is set."""
    if is_secret_key(key) and value not in (None, "", {}, []):
        return REDACTED
    return redact_tree(value)


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
