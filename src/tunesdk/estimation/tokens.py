"""Training tokens of a job: how many, counted with which tokenizer.

The counter is chosen so that an estimate never downloads anything:
the model's own tokenizer when ``job.model`` is a local folder with tokenizer files; otherwise
tiktoken's ``o200k_base`` when its vocabulary is already cached (exact for OpenAI's current models,
an approximation for others); otherwise 4 characters per token.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from tunesdk.data import Dataset, Preference
from tunesdk.data.records import Record
from tunesdk.data.stats import compute_stats
from tunesdk.data.tokens import counter_for

if TYPE_CHECKING:
    from tunesdk.job import Job

TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json")
TIKTOKEN_ENCODING = "o200k_base"
# tiktoken caches each vocabulary under sha1(url) (tiktoken/load.py); checking the file avoids a
# network fetch in the middle of an estimate.
_TIKTOKEN_URLS = {
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
}


class TokenEstimate(BaseModel):
    """Tokens one training run processes (an estimate: providers count with their own tokenizer)."""

    objective: Literal["sft", "dpo", "grpo", "kto", "orpo"]
    examples: int
    tokens_per_epoch: int = Field(description="every example, capped at max_seq_length")
    epochs: int
    training_tokens: int = Field(description="tokens_per_epoch × epochs (what providers bill)")
    longest_example: int = Field(description="longest example in tokens (after the cap)")
    counter: str = Field(description="what counted the tokens")
    approximate: bool = Field(description="False only when the base model's own tokenizer counted")
    invalid_rows: int = 0
    note: str | None = None


def tiktoken_cached(encoding: str = TIKTOKEN_ENCODING) -> bool:
    """Whether tiktoken can load ``encoding`` without a download."""
    url = _TIKTOKEN_URLS.get(encoding)
    cache_dir = (
        os.environ.get("TIKTOKEN_CACHE_DIR")
        or os.environ.get("DATA_GYM_CACHE_DIR")
        or os.path.join(tempfile.gettempdir(), "data-gym-cache")
    )
    if url is None or not cache_dir:
        return False
    try:
        import tiktoken  # noqa: F401
    except ImportError:
        return False
    return (Path(cache_dir) / hashlib.sha1(url.encode()).hexdigest()).is_file()


def choose_tokenizer(model: str, tokenizer: Any = "auto") -> tuple[Any, bool]:
    """(what to pass to ``Dataset.stats``, whether it is the model's own tokenizer)."""
    if tokenizer != "auto":
        return tokenizer, not isinstance(tokenizer, str) and tokenizer is not None
    local = Path(model).expanduser()
    if local.is_dir() and any((local / name).is_file() for name in TOKENIZER_FILES):
        if _generic_fast_tokenizer(local):
            # the class AutoTokenizer would pick, without the seconds its import of torch costs
            from transformers import PreTrainedTokenizerFast

            return PreTrainedTokenizerFast.from_pretrained(str(local), local_files_only=True), True
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(local), local_files_only=True), True
    if tiktoken_cached():
        return TIKTOKEN_ENCODING, model.startswith(("gpt-", "ft:gpt-"))
    return None, False


def _generic_fast_tokenizer(folder: Path) -> bool:
    """Whether ``folder``'s tokenizer is the generic fast one (``tokenizer.json`` and a
    ``tokenizer_class`` of PreTrainedTokenizerFast/TokenizersBackend, as Llama 3's), which
    AutoTokenizer would load as that class too."""
    import json

    try:
        config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    generic = config.get("tokenizer_class") in ("PreTrainedTokenizerFast", "TokenizersBackend")
    return generic and (folder / "tokenizer.json").is_file()


def _pair_sides(records: Iterator[Record]) -> Iterator[Record]:
    # DPO runs the policy on prompt+chosen and on prompt+rejected: both sequences are trained on.
    # Preference(prompt, side, side) makes every counter count exactly prompt + that side.
    for record in records:
        if isinstance(record, Preference):
            yield Preference(
                record.prompt, record.chosen, record.chosen, tools=record.tools, chat=record.chat
            )
            yield Preference(
                record.prompt,
                record.rejected,
                record.rejected,
                tools=record.tools,
                chat=record.chat,
            )
        else:
            yield record


def count_training_tokens(job: Job, tokenizer: Any = "auto") -> TokenEstimate:
    """Training tokens of ``job`` (SFT: every example; DPO: chosen and rejected sequences)."""
    dataset = Dataset.load(job.data)
    chosen, own = choose_tokenizer(job.model_name, tokenizer)
    objective: Literal["sft", "dpo", "grpo", "kto", "orpo"] = job.objective or (
        "dpo" if dataset.kind == "dpo" else "sft"
    )
    cap = job.max_seq_length
    if objective == "dpo":
        pairs = 0

        def counted() -> Iterator[Record]:
            nonlocal pairs
            for record in dataset:
                pairs += 1
                yield record

        stats = compute_stats(
            _pair_sides(counted()),
            counter_for(chosen),
            source=dataset.name,
            format=dataset.format,
            kind=dataset.kind,
            max_seq_length=cap,
            epochs=job.epochs,
        )
        examples, note = pairs, "DPO: prompt+chosen and prompt+rejected both counted"
    else:
        stats = dataset.stats(tokenizer=chosen, max_seq_length=cap, epochs=job.epochs)
        examples, note = stats.examples, None
    longest = min(stats.tokens.max, cap) if stats.tokens is not None else 0
    return TokenEstimate(
        objective=objective,
        examples=examples,
        tokens_per_epoch=stats.billable_tokens // job.epochs,
        epochs=job.epochs,
        training_tokens=stats.billable_tokens,
        longest_example=longest,
        counter=stats.token_counter
        + ("" if own or chosen is None else ", an approximation of the model's tokenizer"),
        approximate=not own,
        invalid_rows=stats.invalid_rows,
        note=note,
    )
