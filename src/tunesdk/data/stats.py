"""Dataset statistics: counts, turns, token lengths, truncation and billable tokens."""

from __future__ import annotations

from array import array
from collections.abc import Iterable

from pydantic import BaseModel

from tunesdk.data.records import Conversation, Preference, Record
from tunesdk.data.tokens import TokenCounter


class Distribution(BaseModel):
    """Summary of a list of numbers (percentiles are nearest-rank)."""

    min: int
    mean: float
    p50: int
    p95: int
    max: int

    @classmethod
    def of(cls, values: array) -> Distribution | None:
        if not values:
            return None
        ordered = sorted(values)
        last = len(ordered) - 1

        def rank(q: float) -> int:
            return int(ordered[min(last, int(q * len(ordered)))])

        return cls(
            min=int(ordered[0]),
            mean=sum(ordered) / len(ordered),
            p50=rank(0.5),
            p95=rank(0.95),
            max=int(ordered[-1]),
        )

    def __str__(self) -> str:
        return (
            f"min {self.min}, mean {self.mean:.1f}, p50 {self.p50}, p95 {self.p95}, max {self.max}"
        )


class Stats(BaseModel):
    """What ``Dataset.stats()`` returns; ``render()`` prints it for a terminal."""

    source: str
    format: str | None
    kind: str | None
    examples: int
    invalid_rows: int = 0
    turns: Distribution | None = None
    with_system_prompt: int = 0
    with_tool_calls: int = 0
    tokens: Distribution | None = None
    total_tokens: int = 0
    token_counter: str
    max_seq_length: int | None = None
    truncated: int | None = None
    epochs: int = 1
    billable_tokens: int = 0

    def render(self) -> str:
        lines = [f"{self.source}: {self.examples} example(s), format {self.format} ({self.kind})"]
        if self.invalid_rows:
            lines.append(f"  invalid rows:    {self.invalid_rows} (not counted; run validate)")
        if self.turns is not None:
            lines.append(f"  turns/example:   {self.turns}")
            lines.append(f"  system prompt:   {self.with_system_prompt} example(s)")
            lines.append(f"  tool calls:      {self.with_tool_calls} example(s)")
        if self.tokens is not None:
            lines.append(f"  tokens/example:  {self.tokens}")
        lines.append(f"  total tokens:    {self.total_tokens:,} ({self.token_counter})")
        if self.max_seq_length is not None:
            lines.append(
                f"  truncated:       {self.truncated} example(s) over {self.max_seq_length} tokens"
            )
        capped = ", capped at max_seq_length" if self.max_seq_length else ""
        lines.append(
            f"  billable tokens: {self.billable_tokens:,} (tokens x {self.epochs} epoch(s){capped})"
        )
        return "\n".join(lines)


def compute_stats(
    records: Iterable[Record],
    counter: TokenCounter,
    *,
    source: str,
    format: str | None,
    kind: str | None,
    max_seq_length: int | None,
    epochs: int,
) -> Stats:
    """One pass over ``records``; memory is one integer per example (for the percentiles)."""
    lengths = array("q")
    turns = array("q")
    with_system = with_tools = truncated = 0
    billable = 0
    for record in records:
        length = counter.count(record)
        lengths.append(length)
        billable += min(length, max_seq_length) if max_seq_length else length
        if max_seq_length is not None and length > max_seq_length:
            truncated += 1
        messages = None
        if isinstance(record, Conversation):
            messages = record.messages
        elif isinstance(record, Preference):
            messages = record.prompt + record.chosen
        if messages is not None:
            turns.append(len(messages))
            with_system += any(m.role == "system" for m in messages)
            with_tools += any(m.tool_calls for m in messages)
    return Stats(
        source=source,
        format=format,
        kind=kind,
        examples=len(lengths),
        turns=Distribution.of(turns),
        with_system_prompt=with_system,
        with_tool_calls=with_tools,
        tokens=Distribution.of(lengths),
        total_tokens=sum(lengths),
        token_counter=counter.description,
        max_seq_length=max_seq_length,
        truncated=truncated if max_seq_length is not None else None,
        epochs=epochs,
        billable_tokens=billable * epochs,
    )
