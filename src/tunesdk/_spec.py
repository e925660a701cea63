"""Base class for the user-facing specs (Job, methods, Resources).

Pydantic's ``ValidationError`` is precise but reads like a parser trace. Specs convert it into one
``JobError`` that names each bad field, what was given, and how to fix it.
"""

from __future__ import annotations

import difflib
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from tunesdk.errors import JobError


class Spec(BaseModel):
    """A frozen, strict pydantic model whose validation errors are ``JobError``s."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    #: field name -> how to fix a bad value (used in error messages)
    fixes: ClassVar[dict[str, str]] = {}

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _job_error(type(self), exc) from None

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
            raise _job_error(cls, exc, where=where) from None


def _job_error(cls: type[Spec], exc: ValidationError, *, where: str | None = None) -> JobError:
    lines: list[str] = []
    fixes: list[str] = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err["loc"] if not _is_union_tag(part))
        field = str(err["loc"][0]) if err["loc"] else ""
        msg = err["msg"].removeprefix("Value error, ")
        given = err.get("input")
        if err["type"] == "extra_forbidden":
            close = difflib.get_close_matches(field, list(cls.model_fields), n=1)
            hint = f"did you mean {close[0]!r}?" if close else "remove it"
            lines.append(f"{loc}: unknown option ({hint})")
            continue
        shown = "" if isinstance(given, dict) or given is None else f" (got {given!r})"
        lines.append(f"{loc or cls.__name__}: {msg}{shown}")
        fix = cls.fixes.get(field)
        if fix and fix not in fixes:
            fixes.append(fix)
    head = f"invalid {cls.__name__}" + (f" in {where}" if where else "")
    return JobError(
        head + ":\n  " + "\n  ".join(lines),
        fix="; ".join(fixes) or None,
    )


def _is_union_tag(part: Any) -> bool:
    # pydantic puts the chosen union member's tag ("lora", "function-after[...]") into the location
    return isinstance(part, str) and (
        "[" in part or part in {"full", "lora", "qlora", "prefix", "adapter"}
    )
