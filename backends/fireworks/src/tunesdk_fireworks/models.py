"""Base models: a small curated table of Hugging Face ids and their Fireworks names.

Fireworks names a model ``accounts/<account>/models/<model-id>``; its own library lives under the
``fireworks`` account. A Job may give a Hugging Face id from this table, a Fireworks short id from
it (``llama-v3p1-8b-instruct``), or any full Fireworks name, which passes through unchanged (for
models in your own account, or library models this table does not list).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tunesdk.errors import JobError

LIBRARY_ACCOUNT = "fireworks"
MODEL_NAME = re.compile(
    r"^accounts/(?P<account>[a-z0-9][a-z0-9-]*)/models/(?P<model>[a-z0-9][a-z0-9-.]*)$"
)


@dataclass(frozen=True)
class BaseModel:
    """A tunable base model in the Fireworks library."""

    hf_id: str
    model_id: str
    context_length: int

    @property
    def name(self) -> str:
        return f"accounts/{LIBRARY_ACCOUNT}/models/{self.model_id}"


BASE_MODELS: tuple[BaseModel, ...] = (
    BaseModel("meta-llama/Llama-3.1-8B-Instruct", "llama-v3p1-8b-instruct", 131072),
    BaseModel("meta-llama/Llama-3.1-70B-Instruct", "llama-v3p1-70b-instruct", 131072),
    BaseModel("meta-llama/Llama-3.2-1B-Instruct", "llama-v3p2-1b-instruct", 131072),
    BaseModel("meta-llama/Llama-3.2-3B-Instruct", "llama-v3p2-3b-instruct", 131072),
    BaseModel("meta-llama/Llama-3.3-70B-Instruct", "llama-v3p3-70b-instruct", 131072),
    BaseModel("Qwen/Qwen2.5-7B-Instruct", "qwen2p5-7b-instruct", 32768),
    BaseModel("Qwen/Qwen2.5-14B-Instruct", "qwen2p5-14b-instruct", 32768),
    BaseModel("Qwen/Qwen2.5-32B-Instruct", "qwen2p5-32b-instruct", 32768),
    BaseModel("Qwen/Qwen2.5-72B-Instruct", "qwen2p5-72b-instruct", 32768),
    BaseModel("Qwen/Qwen3-8B", "qwen3-8b", 40960),
    BaseModel("mistralai/Mistral-7B-Instruct-v0.3", "mistral-7b-instruct-v3", 32768),
    BaseModel("google/gemma-2-9b-it", "gemma2-9b-it", 8192),
)

_BY_HF_ID = {model.hf_id.lower(): model for model in BASE_MODELS}
_BY_MODEL_ID = {model.model_id: model for model in BASE_MODELS}
_BY_NAME = {model.name: model for model in BASE_MODELS}


@dataclass(frozen=True)
class ResolvedModel:
    """The Fireworks model name to send, and the table row when the model is a known one."""

    name: str
    known: BaseModel | None
    how: str


def resolve_base_model(model: str) -> ResolvedModel:
    """Map a Job's model to a Fireworks model name, or raise ``JobError`` naming the choices."""
    text = model.strip()
    if text in _BY_NAME:
        return ResolvedModel(text, _BY_NAME[text], "Fireworks model name")
    if MODEL_NAME.match(text):
        return ResolvedModel(text, None, "Fireworks model name, passed through unchecked")
    if text in _BY_MODEL_ID:
        row = _BY_MODEL_ID[text]
        return ResolvedModel(row.name, row, f"Fireworks model id {text}")
    alias = _BY_HF_ID.get(text.lower())
    if alias is not None:
        return ResolvedModel(alias.name, alias, f"alias of {alias.hf_id}")
    choices = ", ".join(m.hf_id for m in BASE_MODELS)
    raise JobError(
        f"Fireworks has no known model for {model!r}",
        where="job.model",
        fix=f"use one of {choices}; or a Fireworks model name such as "
        "accounts/fireworks/models/llama-v3p1-8b-instruct (`firectl model list -a fireworks`); "
        f"or ts.ModelRef(name=..., ids={{'fireworks': 'accounts/<account>/models/<id>'}})",
    )


def parse_model_name(name: str) -> tuple[str, str] | None:
    """``(account, model_id)`` of a full Fireworks model name, or None."""
    match = MODEL_NAME.match(name)
    return (match["account"], match["model"]) if match else None


__all__ = [
    "BASE_MODELS",
    "LIBRARY_ACCOUNT",
    "BaseModel",
    "ResolvedModel",
    "parse_model_name",
    "resolve_base_model",
]
