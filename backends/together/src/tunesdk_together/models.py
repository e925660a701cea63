"""Base models Together AI fine-tunes: a small curated alias table (Hugging Face id -> Together id).

Together names some fine-tunable bases differently from the Hub
(``meta-llama/Llama-3.1-8B-Instruct`` is ``meta-llama/Meta-Llama-3.1-8B-Instruct-Reference``
there). The table maps the common Hub ids and also accepts Together's own ids. The limits recorded
here are the ones Together's supported-models page lists; the live
``GET /v1/fine-tunes/models/limits`` (which the SDK calls before every create) stays authoritative,
so a limit that changed upstream is still caught before the job starts.

Any other id can be sent unchecked with
``ts.ModelRef(name=..., ids={"together": "<together id>"})``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MIN_LEARNING_RATE = 1e-7
MAX_LEARNING_RATE = 1e-2
ALL_LINEAR_LLAMA = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class FineTunableModel:
    """One fine-tunable base model and its limits on Together."""

    together_id: str
    hf_ids: tuple[str, ...] = ()
    context_sft: int = 8192
    context_dpo: int = 8192
    lora_max_batch: int = 16
    lora_max_batch_dpo: int = 8
    min_batch: int = 8
    max_rank: int = 64
    full_training: bool = True
    full_max_batch: int = 16
    full_max_batch_dpo: int = 8
    #: LoRA fine-tunes of this base can be called serverless right after training;
    #: others (and every full fine-tune) need a dedicated endpoint first.
    serverless_lora: bool = False
    target_modules: tuple[str, ...] = field(default=ALL_LINEAR_LLAMA)
    max_epochs: int = 20
    max_checkpoints: int = 20
    max_evals: int = 100

    @property
    def short_name(self) -> str:
        return self.together_id.rsplit("/", 1)[-1]


CATALOG: tuple[FineTunableModel, ...] = (
    FineTunableModel(
        "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
        ("meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Meta-Llama-3.1-8B-Instruct"),
        context_sft=131072,
        context_dpo=65536,
        serverless_lora=True,
    ),
    FineTunableModel(
        "meta-llama/Meta-Llama-3.1-8B-Reference",
        ("meta-llama/Llama-3.1-8B", "meta-llama/Meta-Llama-3.1-8B"),
        context_sft=131072,
        context_dpo=65536,
    ),
    FineTunableModel(
        "meta-llama/Meta-Llama-3.1-70B-Instruct-Reference",
        ("meta-llama/Llama-3.1-70B-Instruct", "meta-llama/Meta-Llama-3.1-70B-Instruct"),
        context_sft=131072,
        context_dpo=65536,
        min_batch=8,
        full_max_batch=16,
        serverless_lora=True,
    ),
    FineTunableModel(
        "meta-llama/Llama-3.3-70B-Instruct-Reference",
        ("meta-llama/Llama-3.3-70B-Instruct",),
        context_sft=131072,
        context_dpo=65536,
    ),
    FineTunableModel(
        "meta-llama/Llama-3.2-1B-Instruct",
        ("meta-llama/Llama-3.2-1B-Instruct",),
        context_sft=131072,
        context_dpo=65536,
        lora_max_batch=32,
        full_max_batch=32,
    ),
    FineTunableModel(
        "meta-llama/Llama-3.2-3B-Instruct",
        ("meta-llama/Llama-3.2-3B-Instruct",),
        context_sft=131072,
        context_dpo=65536,
        lora_max_batch=32,
        full_max_batch=32,
    ),
    FineTunableModel(
        "Qwen/Qwen2.5-0.5B-Instruct",
        ("Qwen/Qwen2.5-0.5B-Instruct",),
        context_sft=32768,
        context_dpo=16384,
        lora_max_batch=32,
        full_max_batch=32,
    ),
    FineTunableModel(
        "Qwen/Qwen2.5-1.5B-Instruct",
        ("Qwen/Qwen2.5-1.5B-Instruct",),
        context_sft=32768,
        context_dpo=16384,
        lora_max_batch=32,
        full_max_batch=32,
    ),
    FineTunableModel(
        "Qwen/Qwen2.5-7B-Instruct",
        ("Qwen/Qwen2.5-7B-Instruct",),
        context_sft=32768,
        context_dpo=16384,
    ),
    FineTunableModel(
        "Qwen/Qwen2.5-14B-Instruct",
        ("Qwen/Qwen2.5-14B-Instruct",),
        context_sft=32768,
        context_dpo=16384,
        serverless_lora=True,
    ),
    FineTunableModel("Qwen/Qwen3-0.6B", ("Qwen/Qwen3-0.6B",), context_sft=32768, context_dpo=16384),
    FineTunableModel("Qwen/Qwen3-1.7B", ("Qwen/Qwen3-1.7B",), context_sft=32768, context_dpo=16384),
    FineTunableModel("Qwen/Qwen3-4B", ("Qwen/Qwen3-4B",), context_sft=32768, context_dpo=16384),
    FineTunableModel("Qwen/Qwen3-8B", ("Qwen/Qwen3-8B",), context_sft=32768, context_dpo=16384),
    FineTunableModel("Qwen/Qwen3-14B", ("Qwen/Qwen3-14B",), context_sft=32768, context_dpo=16384),
    FineTunableModel(
        "mistralai/Mistral-7B-Instruct-v0.2",
        ("mistralai/Mistral-7B-Instruct-v0.2",),
        context_sft=32768,
        context_dpo=16384,
    ),
    FineTunableModel(
        "google/gemma-3-4b-it",
        ("google/gemma-3-4b-it",),
        context_sft=32768,
        context_dpo=16384,
    ),
    FineTunableModel(
        "openai/gpt-oss-20b",
        ("openai/gpt-oss-20b",),
        context_sft=16384,
        context_dpo=8192,
        lora_max_batch=8,
        lora_max_batch_dpo=8,
        min_batch=8,
        full_training=False,
        target_modules=("q_proj", "k_proj", "v_proj", "o_proj"),
    ),
)

_BY_TOGETHER_ID = {m.together_id: m for m in CATALOG}
_BY_ALIAS = {alias.lower(): m for m in CATALOG for alias in (m.together_id, *m.hf_ids)}


def lookup(model_id: str) -> FineTunableModel | None:
    """The catalog entry for a Hugging Face id or a Together id (case-insensitive), if any."""
    return _BY_ALIAS.get(model_id.strip().lower())


def by_together_id(together_id: str) -> FineTunableModel | None:
    """The catalog entry whose Together id is exactly ``together_id``."""
    return _BY_TOGETHER_ID.get(together_id)


def known_ids() -> list[str]:
    """Every accepted id: Hugging Face aliases and Together ids, sorted."""
    return sorted({alias for m in CATALOG for alias in (m.together_id, *m.hf_ids)})


def limits_json(base: FineTunableModel) -> dict[str, Any]:
    """The model's limits in the shape of ``GET /v1/fine-tunes/models/limits``."""
    return {
        "model_name": base.together_id,
        "max_num_epochs": base.max_epochs,
        "max_num_evals": base.max_evals,
        "max_num_checkpoints": base.max_checkpoints,
        "max_learning_rate": MAX_LEARNING_RATE,
        "min_learning_rate": MIN_LEARNING_RATE,
        "max_seq_length_sft": base.context_sft,
        "max_seq_length_dpo": base.context_dpo,
        "min_max_seq_length": 1,
        "default_gradient_accumulation_steps": 1,
        "supports_vision": False,
        "supports_tools": True,
        "supports_reasoning": False,
        "merge_output_lora": True,
        "supports_full_training": base.full_training,
        "lora_training": {
            "default_rank": 8,
            "max_batch_size": base.lora_max_batch,
            "max_batch_size_dpo": base.lora_max_batch_dpo,
            "min_batch_size": base.min_batch,
            "max_rank": base.max_rank,
            "target_modules": list(base.target_modules),
        },
        "full_training": {
            "max_batch_size": base.full_max_batch,
            "max_batch_size_dpo": base.full_max_batch_dpo,
            "min_batch_size": base.min_batch,
        }
        if base.full_training
        else None,
    }


__all__ = [
    "CATALOG",
    "MAX_LEARNING_RATE",
    "MIN_LEARNING_RATE",
    "FineTunableModel",
    "by_together_id",
    "known_ids",
    "limits_json",
    "lookup",
]
