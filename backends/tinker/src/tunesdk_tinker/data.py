"""tunesdk's canonical records → token sequences with loss weights → Tinker ``Datum``s.

Tokenization is tunesdk's own (`tunesdk.data.templates`): the base model's chat template, and
learned tokens exactly where ``render_with_mask`` puts labels (assistant turns; every token with
``train_on_inputs``; the completion of plain prompt/completion pairs). A Datum is the usual
next-token shift: ``model_input = tokens[:-1]``, ``target_tokens = tokens[1:]``, and the weight of
target ``i`` is whether token ``i + 1`` is learned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tunesdk.base_tokenizer import load_base_tokenizer
from tunesdk.data import Dataset
from tunesdk.data.objective import require_preference_pairs, require_prompt_only
from tunesdk.data.records import Conversation, Preference
from tunesdk.data.templates import IGNORE_INDEX, hf_message, render_text, tokenize_record
from tunesdk.data.truncation import truncation_warnings
from tunesdk.errors import DataError

if TYPE_CHECKING:
    from tunesdk.job import Job


@dataclass(frozen=True)
class Sequence:
    """One tokenized example: its tokens and which of them are learned."""

    tokens: list[int]
    learned: list[bool]

    @property
    def learned_targets(self) -> int:
        """Learned tokens among the targets (every token but the first)."""
        return sum(self.learned[1:])


@dataclass(frozen=True)
class Pair:
    """A tokenized preference pair."""

    chosen: Sequence
    rejected: Sequence


@dataclass(frozen=True)
class Prompt:
    """A GRPO prompt: its tokens, what reward functions receive as ``prompts``, and the row's
    other columns (their keyword arguments)."""

    tokens: list[int]
    prompt: Any
    chat: bool
    columns: dict[str, Any] = field(default_factory=dict)


def load_tokenizer(source: str, chat_template: str | None = None) -> Any:
    """The base model's transformers tokenizer (``chat_template`` replaces its template)."""
    return load_base_tokenizer(
        source,
        chat_template,
        fix="check the model id/path, or set backend_options.tinker.tokenizer to the base "
        "model's tokenizer (HF id or local folder)",
    )


def _sequence(encoded: dict[str, list[int]]) -> Sequence:
    return Sequence(
        list(encoded["input_ids"]), [label != IGNORE_INDEX for label in encoded["labels"]]
    )


def sft_sequences(
    dataset: Dataset, tokenizer: Any, job: Job, *, name: str = "data"
) -> tuple[list[Sequence], list[str]]:
    """Every example tokenized and cut to ``max_seq_length``, and warnings to log. Examples with
    nothing to learn within the limit are dropped; DataError when that leaves none."""
    limit = job.max_seq_length
    sequences: list[Sequence] = []
    over = dropped = total = 0
    shortest: int | None = None
    for record in dataset:
        total += 1
        full = _sequence(tokenize_record(record, tokenizer, None, job.train_on_inputs))
        shortest = len(full.tokens) if shortest is None else min(shortest, len(full.tokens))
        if len(full.tokens) > limit:
            over += 1
            full = Sequence(full.tokens[:limit], full.learned[:limit])
        if full.learned_targets == 0:
            dropped += 1
            continue
        sequences.append(full)
    warnings = truncation_warnings(
        name=name, limit=limit, total=total, over=over, dropped=dropped, shortest=shortest
    )
    return sequences, warnings


def _response(record: Preference, side: list[Any], tokenizer: Any, limit: int) -> Sequence:
    """Prompt + one response of a pair, only the response's tokens learned."""
    if not record.chat:
        conversation = Conversation([*record.prompt[:1], *side[-1:]], chat=False)
        return _cut(_sequence(tokenize_record(conversation, tokenizer)), limit)
    conversation = Conversation([*record.prompt, *side], tools=record.tools)
    full = _sequence(tokenize_record(conversation, tokenizer))
    prompt_text = render_text(
        tokenizer,
        [hf_message(m) for m in record.prompt],
        record.tools,
        add_generation_prompt=True,
    )
    prompt_length = len(tokenizer(prompt_text, add_special_tokens=False)["input_ids"])
    learned = [flag and i >= prompt_length for i, flag in enumerate(full.learned)]
    return _cut(Sequence(full.tokens, learned), limit)


def _cut(sequence: Sequence, limit: int) -> Sequence:
    return Sequence(sequence.tokens[:limit], sequence.learned[:limit])


def preference_pairs(
    dataset: Dataset, tokenizer: Any, job: Job, *, name: str = "data"
) -> list[Pair]:
    """Every preference pair tokenized; DataError for data that holds no pairs or a pair whose
    response lies wholly beyond ``max_seq_length``."""
    require_preference_pairs(dataset, name)
    pairs = []
    for record in dataset:
        assert isinstance(record, Preference)
        chosen = _response(record, record.chosen, tokenizer, job.max_seq_length)
        rejected = _response(record, record.rejected, tokenizer, job.max_seq_length)
        if not chosen.learned_targets or not rejected.learned_targets:
            where = str(record.source) if record.source else f"job.{name}"
            raise DataError(
                f"a response of the pair at {where} lies beyond max_seq_length="
                f"{job.max_seq_length} tokens",
                where=where,
                fix="raise max_seq_length or shorten the prompt",
            )
        pairs.append(Pair(chosen, rejected))
    return pairs


def grpo_prompts(dataset: Dataset, tokenizer: Any, job: Job) -> list[Prompt]:
    """Prompt-only rows: tokens to sample from, and what the rewards receive."""
    prompts = []
    for record in dataset:
        require_prompt_only(record)
        assert isinstance(record, Conversation)  # only conversations are prompt-only
        if record.chat:
            messages = [hf_message(m) for m in record.messages]
            text = render_text(tokenizer, messages, record.tools, add_generation_prompt=True)
            tokens = list(tokenizer(text, add_special_tokens=False)["input_ids"])
            prompts.append(Prompt(tokens, messages, True, dict(record.meta)))
        else:
            text = record.messages[0].text
            tokens = list(tokenizer(text, add_special_tokens=True)["input_ids"])
            prompts.append(Prompt(tokens, text, False, dict(record.meta)))
    return prompts


# ---- Datums ----------------------------------------------------------------------------------


def datum(types: Any, sequence: Sequence, scale: float) -> Any:
    """A cross-entropy Datum: weight ``scale`` on each learned target, 0 elsewhere."""
    import numpy as np

    tokens = sequence.tokens
    weights = np.asarray(sequence.learned[1:], dtype=np.float32) * np.float32(scale)
    return types.Datum(
        model_input=types.ModelInput.from_ints(tokens[:-1]),
        loss_fn_inputs={
            "target_tokens": types.TensorData.from_numpy(np.asarray(tokens[1:], dtype=np.int64)),
            "weights": types.TensorData.from_numpy(weights),
        },
    )


def batch_datums(types: Any, sequences: list[Sequence]) -> list[Any]:
    """Datums whose summed cross-entropy is the mean NLL over the batch's learned tokens."""
    total = sum(s.learned_targets for s in sequences)
    return [datum(types, s, 1.0 / total) for s in sequences]


__all__ = [
    "Pair",
    "Prompt",
    "Sequence",
    "batch_datums",
    "datum",
    "grpo_prompts",
    "load_tokenizer",
    "preference_pairs",
    "sft_sequences",
]
