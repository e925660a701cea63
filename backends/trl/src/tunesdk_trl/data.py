"""The job's data as the ``datasets.Dataset`` TRL's trainers take, with length checks."""

from __future__ import annotations

from typing import Any

from tunesdk.data import Dataset
from tunesdk.errors import DataError
from tunesdk.job import Job

IGNORE_INDEX = -100


def train_eval_datasets(job: Job) -> tuple[Dataset, Dataset | None]:
    """The training set and the eval set (``eval_data`` or a deterministic ``eval_split``)."""
    train = Dataset.load(job.data)
    if job.eval_data is not None:
        return train, Dataset.load(job.eval_data)
    if job.eval_split is not None:
        return train.split(job.eval_split, seed=job.seed)
    return train, None


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
    if not keep:
        if over == len(lengths):
            raise DataError(
                f"all {len(lengths)} examples in {name} are longer than max_seq_length={limit} "
                f"tokens (the shortest has {min(lengths)})",
                where=f"job.{name}",
                fix=f"raise max_seq_length to at least {min(lengths)} or shorten the examples",
            )
        raise DataError(
            f"no example in {name} has a token to learn (no assistant reply within "
            f"max_seq_length={limit})",
            where=f"job.{name}",
            fix="add assistant turns, set train_on_inputs=True, or raise max_seq_length",
        )
    warnings = []
    if over:
        warnings.append(
            f"{over} of {len(lengths)} examples in {name} are longer than max_seq_length={limit} "
            "and were cut at the right"
        )
    if len(keep) < len(lengths):
        warnings.append(
            f"{len(lengths) - len(keep)} examples in {name} had nothing to learn within "
            f"max_seq_length={limit} and were dropped"
        )
        cut_ds = cut_ds.select(keep)
    return cut_ds, warnings


def dpo_dataset(dataset: Dataset) -> Any:
    """``prompt``/``chosen``/``rejected`` columns (TRL's preference shape); DPOTrainer tokenizes."""
    if dataset.kind != "dpo":
        raise DataError(
            f"objective dpo needs preference pairs, but the data is {dataset.kind}",
            where="job.data",
            fix="give prompt/chosen/rejected examples, or use objective='sft'",
        )
    return dataset.to_hf()
