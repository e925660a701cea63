"""Building a ``datasets.Dataset`` in the shape TRL's trainers expect.

Messages are stored with the ``Json`` feature: tool calls and tool schemas differ from example to
example, and Arrow structs would otherwise merge their keys across rows (filling in nulls that
chat templates then print). Each message comes back exactly as written.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tunesdk.data.convert import to_trl
from tunesdk.data.records import Preference, Record, Text
from tunesdk.data.templates import tokenize_record
from tunesdk.errors import DataError


def _shape(record: Record, tokenized: bool) -> str:
    if isinstance(record, Preference):
        return "preference" if record.chat else "preference_text"
    if tokenized:
        return "tokenized"
    if isinstance(record, Text):
        return "text"
    return "messages" if record.chat else "prompt_completion"


def _features(shape: str, with_tools: bool) -> Any:
    from datasets import Features, Json, List, Value

    columns: dict[str, Any]
    if shape == "messages":
        columns = {"messages": List(Json())}
    elif shape == "preference":
        columns = {"prompt": List(Json()), "chosen": List(Json()), "rejected": List(Json())}
    elif shape == "preference_text":
        columns = {name: Value("string") for name in ("prompt", "chosen", "rejected")}
    elif shape == "prompt_completion":
        columns = {"prompt": Value("string"), "completion": Value("string")}
    elif shape == "text":
        columns = {"text": Value("string")}
    else:
        columns = {name: List(Value("int64")) for name in ("input_ids", "attention_mask", "labels")}
    if with_tools and shape in ("messages", "preference"):
        columns["tools"] = Json()
    return Features(columns)


def build_hf_dataset(
    records: Iterable[Record],
    tokenizer: Any = None,
    max_seq_length: int | None = None,
    train_on_inputs: bool = False,
) -> Any:
    """A ``datasets.Dataset`` of ``records`` (materialized in memory, as Arrow).

    Without a tokenizer: TRL's conversational/standard columns. With one (SFT and text only):
    pre-tokenized ``input_ids`` / ``attention_mask`` / ``labels`` from ``render_with_mask``,
    which TRL's SFTTrainer uses as they are.
    """
    try:
        from datasets import Dataset as HFDataset
    except ImportError as exc:
        raise DataError(
            "to_hf() needs the datasets library", fix="pip install 'tunesdk[datasets]'"
        ) from exc
    tokenized = tokenizer is not None
    rows: list[dict[str, Any]] = []
    shape: str | None = None
    for record in records:
        this = _shape(record, tokenized)
        if shape is None:
            shape = this
        elif this != shape:
            raise DataError(
                f"cannot put {this} and {shape} examples in one dataset",
                where=str(record.source) if record.source else None,
                fix="keep chat, plain prompt/completion, text and preference data in separate "
                "datasets",
            )
        if this == "tokenized":
            rows.append(tokenize_record(record, tokenizer, max_seq_length, train_on_inputs))
        else:
            rows.append(to_trl(record))
    if shape is None:
        raise DataError("the dataset is empty", fix="give at least one example")
    features = _features(shape, with_tools=any("tools" in row for row in rows))
    columns = {name: [row.get(name) for row in rows] for name in features}
    return HFDataset.from_dict(columns, features=features)
