"""Base class for the user-facing specs (Job, methods, Resources).

Pydantic's ``ValidationError`` is precise but reads like a parser trace. Specs convert it into one
``JobError`` that starts with the problem: each bad field by its dotted location (``method.r``), what
was given (bounded, and never a value under a secret-looking key or in ``backend_options``), and
how to fix it. Errors of nested specs are spliced in with their location, not wrapped.
"""

from __future__ import annotations

import difflib
import reprlib
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from tunesdk.errors import JobError
from tunesdk.secrets import path_is_secret

#: the longest a given value is shown in an error message
MAX_SHOWN = 60

_repr = reprlib.Repr()
_repr.maxstring = MAX_SHOWN
_repr.maxother = MAX_SHOWN
_repr.maxlist = _repr.maxtuple = _repr.maxset = _repr.maxdict = 4
_repr.maxlevel = 2


class Spec(BaseModel):
    """A frozen, strict pydantic model whose validation errors are ``JobError``s."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    #: field name -> how to fix a bad value (used in error messages)
    fixes: ClassVar[dict[str, str]] = {}
    #: names users reach for -> the field they mean (``rank`` -> ``r``), for "did you mean"
    synonyms: ClassVar[dict[str, str]] = {}

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise spec_error(type(self), exc) from None

    @classmethod
    def parse(cls, data: Any, *, where: str | None = None) -> Any:
        """Validate a plain dict (from YAML/JSON), raising ``JobError`` on problems."""
        if not isinstance(data, dict):
            raise JobError(
                f"expected a mapping of {cls.__name__} fields, got {type(data).__name__}",
                where=where,
                fix=f"write the {cls.__name__.lower()} as `key: value` pairs",
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise spec_error(cls, exc, where=where) from None
        except JobError as exc:
            if where and not exc.where:
                raise JobError(exc.message, where=where, fix=exc.fix) from None
            raise


def shown(value: Any) -> str:
    """``value`` as an error message shows it: a repr bounded to about `MAX_SHOWN` characters."""
    return _repr.repr(value)


def suggest(name: str, candidates: list[str], synonyms: dict[str, str] | None = None) -> str | None:
    """The candidate ``name`` is most likely a typo or synonym of, if any."""
    if synonyms and name.lower() in synonyms:
        return synonyms[name.lower()]
    lowered = {c.lower(): c for c in candidates}
    if name.lower() in lowered:
        return lowered[name.lower()]
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1)
    return lowered[close[0]] if close else None


def spec_error(cls: type[Spec], exc: ValidationError, *, where: str | None = None) -> JobError:
    """One JobError for every problem in ``exc``, nested specs' problems included."""
    problems: list[tuple[str, str]] = []
    fixes: list[str] = []
    for err in exc.errors():
        parts = [str(part) for part in err["loc"] if not _is_union_tag(part)]
        field = parts[0] if parts else ""
        inner = (err.get("ctx") or {}).get("error")
        if isinstance(inner, JobError):
            nested = getattr(inner, "problems", None) or [("", inner.message)]
            for sub, msg in nested:
                problems.append((".".join(p for p in (*parts, sub) if p), msg))
            for fix in getattr(inner, "fixes", None) or ([inner.fix] if inner.fix else []):
                if fix not in fixes:
                    fixes.append(fix)
            continue
        loc = ".".join(parts)
        if err["type"] == "extra_forbidden":
            leaf = parts[-1] if parts else ""
            close = suggest(leaf, [f for f in cls.model_fields if f != "kind"], cls.synonyms)
            hint = f"did you mean {close!r}?" if close else "remove it"
            problems.append((loc, f"unknown option ({hint})"))
            continue
        msg = err["msg"].removeprefix("Value error, ")
        problems.append((loc, msg + _given(parts, err.get("input"))))
        fix = cls.fixes.get(field)
        if fix and fix not in fixes:
            fixes.append(fix)
    lines = [f"{loc}: {msg}" if loc else msg for loc, msg in problems]
    head = lines[0] if len(lines) == 1 else f"{len(lines)} problems:\n  " + "\n  ".join(lines)
    error = JobError(head, where=where, fix="; ".join(fixes) or None)
    error.problems = problems  # type: ignore[attr-defined]
    error.fixes = fixes  # type: ignore[attr-defined]
    return error


def _given(parts: list[str], value: Any) -> str:
    """`` (got ...)`` for an error line; nothing for mappings, None, backend options and secrets."""
    if isinstance(value, dict) or value is None:
        return ""
    if path_is_secret(parts) or (parts and parts[0] == "backend_options"):
        return f" (got a {type(value).__name__}, not shown)"
    return f" (got {shown(value)})"


def _is_union_tag(part: Any) -> bool:
    # pydantic puts the chosen union member's tag ("lora", "function-after[...]") into the location
    return isinstance(part, str) and (
        "[" in part or part in {"full", "lora", "qlora", "prefix", "adapter"}
    )


# the old private name, for code that imported it
_job_error = spec_error
