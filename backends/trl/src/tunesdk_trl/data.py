"""The job's data as the ``datasets.Dataset`` TRL's trainers take, with length checks."""

from __future__ import annotations

from typing import Any

from tunesdk.data import Dataset
from tunesdk.data.objective import require_preference_pairs
from tunesdk.data.templates import IGNORE_INDEX
from tunesdk.data.truncation import truncation_warnings
from tunesdk.job import Job


def sft_dataset(
    dataset: Dataset, tokenizer: Any, job: Job, *, name: str = "data"
) -> tuple[Any, list[str]]:
    """Tokenized ``input_ids``/``labels`` cut to ``max_seq_length``, and warnings to log.

    Examples whose learned tokens all lie beyond ``max_seq_length`` are dropped (they would train
    on nothing); if that drops every example, a ``DataError`` says so before the model is loaded.
    """
    limit = job.max_seq_length
    full = dataset.to_hf(tokenizer=tokenizer, train_on_inputs=job.train_on_inputs)
    lengths = [len(ids) for ids in full["input_ids"]]
    over = sum(length > limit for length in lengths)

    def cut(example: dict[str, Any]) -> dict[str, Any]:
        return {key: example[key][:limit] for key in ("input_ids", "attention_mask", "labels")}

    cut_ds = full.map(cut) if over else full
    keep = [
        i for i, labels in enumerate(cut_ds["labels"]) if any(x != IGNORE_INDEX for x in labels)
    ]
    warnings = truncation_warnings(
        name=name,
        limit=limit,
        total=len(lengths),
        over=over,
        dropped=len(lengths) - len(keep),
        shortest=min(lengths, default=None),
    )
    if len(keep) < len(lengths):
        cut_ds = cut_ds.select(keep)
    return cut_ds, warnings


def dpo_dataset(dataset: Dataset) -> Any:
    """``prompt``/``chosen``/``rejected`` columns (TRL's preference shape); DPOTrainer tokenizes."""
    require_preference_pairs(dataset)
    return dataset.to_hf()
