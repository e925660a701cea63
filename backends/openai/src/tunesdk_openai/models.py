"""The base models OpenAI fine-tunes, and how a Job's model name resolves to one.

OpenAI publishes no machine-readable list of fine-tunable models, so this table is curated from
the fine-tuning guide. A name that is not here is rejected at plan time (before any upload), unless
``backend_options={"openai": {"check_model": False}}`` says the target is an OpenAI-compatible
server with its own catalog.
"""

from __future__ import annotations

from dataclasses import dataclass

from tunesdk.errors import JobError


@dataclass(frozen=True)
class BaseModel:
    """One fine-tunable OpenAI model snapshot."""

    id: str
    objectives: frozenset[str]
    #: tokens one training example may hold (longer examples fail file validation)
    example_context: int
    aliases: tuple[str, ...] = ()


_BOTH = frozenset({"sft", "dpo"})
_SFT = frozenset({"sft"})
#: reinforcement fine-tuning (``method.type = "reinforcement"``) runs on reasoning models only
_RFT = frozenset({"grpo"})

CATALOG: tuple[BaseModel, ...] = (
    BaseModel("gpt-4.1-2025-04-14", _BOTH, 65_536, ("gpt-4.1",)),
    BaseModel("gpt-4.1-mini-2025-04-14", _BOTH, 65_536, ("gpt-4.1-mini",)),
    BaseModel("gpt-4.1-nano-2025-04-14", _BOTH, 65_536, ("gpt-4.1-nano",)),
    BaseModel("gpt-4o-2024-08-06", _BOTH, 65_536, ("gpt-4o",)),
    BaseModel("gpt-4o-mini-2024-07-18", _BOTH, 65_536, ("gpt-4o-mini",)),
    BaseModel("o4-mini-2025-04-16", _RFT, 65_536, ("o4-mini",)),
    # Azure OpenAI spells GPT-3.5 "gpt-35-turbo"
    BaseModel("gpt-3.5-turbo-0125", _SFT, 16_385, ("gpt-3.5-turbo", "gpt-35-turbo-0125")),
    BaseModel("gpt-3.5-turbo-1106", _SFT, 16_385, ("gpt-35-turbo-1106",)),
)

_BY_NAME: dict[str, BaseModel] = {
    name: model for model in CATALOG for name in (model.id, *model.aliases)
}


_NAMES = {"grpo": "reinforcement (grpo)"}


def lookup(name: str) -> BaseModel | None:
    """The catalog entry for a model id, alias, or ``ft:<base>:...`` fine-tuned model; else None."""
    if name.startswith("ft:"):
        # continued fine-tuning: ft:<base>:<org>:<suffix>:<id>
        return _BY_NAME.get(name.split(":")[1])
    return _BY_NAME.get(name)


def resolve(name: str, objective: str, *, check: bool = True) -> BaseModel | None:
    """Check that OpenAI can fine-tune ``name`` with ``objective``; raise JobError otherwise.

    Returns the catalog entry, or None for an unchecked name on an OpenAI-compatible server.
    """
    model = lookup(name)
    if model is None:
        if not check:
            return None
        known = ", ".join(m.id for m in CATALOG)
        raise JobError(
            f"OpenAI cannot fine-tune {name!r}",
            where="job.model",
            fix=f"use one of {known} (or an ft: model trained from one), e.g. "
            'ts.ModelRef(name="<hf id>", ids={"openai": "gpt-4.1-mini-2025-04-14"}); '
            "for an OpenAI-compatible server with other models set backend_options="
            '{"openai": {"check_model": False}}',
        )
    if objective not in model.objectives:
        supported = ", ".join(m.id for m in CATALOG if objective in m.objectives)
        named = "/".join(_NAMES.get(o, o) for o in sorted(model.objectives))
        raise JobError(
            f"OpenAI fine-tunes {model.id} with {named} only, not {_NAMES.get(objective, objective)}",
            where="job.model",
            fix=f"for {objective} use one of {supported}",
        )
    return model


__all__ = ["CATALOG", "BaseModel", "lookup", "resolve"]
