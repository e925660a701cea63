"""One validation pass: feed it each pipeline item, then ask for the report.

``Dataset.validate`` runs it alone; ``Dataset.to`` runs it while writing, so converting for a
backend reads the file once and still refuses data the backend would reject.
"""

from __future__ import annotations

import json
from array import array
from typing import Any

from tunesdk.data import rules
from tunesdk.data.objective import objective_problem
from tunesdk.data.records import Conversation, Message, Record, Text
from tunesdk.data.report import Problem, Report, RowTally
from tunesdk.data.tokens import ApproximateCounter, HFCounter, TemplateFailure, TokenCounter
from tunesdk.errors import DataError


class Checker:
    """Collects every problem of one pass over a dataset under one backend's rules."""

    def __init__(
        self,
        *,
        name: str,
        format: str,
        kind: str,
        backend: str | None,
        counter: TokenCounter | None = None,
        max_seq_length: int | None = None,
        min_examples: int | None = None,
        objective: str | None = None,
        duplicates: bool = False,
    ) -> None:
        self.name = name
        self.rules = rules.rules_for(backend)
        self.counter = counter
        self.max_seq_length = max_seq_length
        self.minimum = self.rules.min_examples if min_examples is None else min_examples
        self.report = Report(
            source=name,
            format=format,
            kind=kind,
            backend=backend,
            token_counter=counter.description if counter is not None else None,
        )
        self.approximate = isinstance(counter, ApproximateCounter)
        self.count = 0
        self.tally = RowTally()
        #: with ``duplicates``: one 64-bit content digest per position (0 for unreadable rows)
        self.digests: array[int] | None = array("q") if duplicates else None
        self._seen: dict[int, tuple[str | None, int | None]] = {}
        self.duplicate_count = 0
        self.untrainable = 0
        self._first_duplicate: tuple[str, str] | None = None
        self.plain_pairs = False
        if kind not in self.rules.kinds:
            self.report.add(
                Problem(
                    file=name,
                    message=f"{backend} does not train on {kind} data ({format})",
                    fix="convert the data to conversations, or use together/trl/unsloth/axolotl",
                )
            )
        if objective is not None:
            mismatch = objective_problem(objective, kind, format, name)
            if mismatch is not None:
                self.report.add(mismatch)

    def feed(self, record: Record | None, problem: Problem | None) -> None:
        """Check one pipeline item (a record, or the problem that stopped it being read)."""
        self.count += 1
        tally = self.tally
        if problem is not None:
            tally.row(problem.file)
            tally.problem(problem)
            self.report.add(problem)
            if self.digests is not None:
                self.digests.append(0)
            return
        assert record is not None
        source = record.source
        tally.row(source.file if source else self.name)
        if self.digests is not None:
            self._note_digest(record)
        findings = rules.check_record(record, self.rules)
        if findings or self.counter is not None:
            file, line = (source.file, source.line) if source else (self.name, None)
            for field, message, fix, severity in findings:
                found = Problem(
                    file=file, line=line, field=field, message=message, fix=fix, severity=severity
                )
                tally.problem(found)
                self.report.add(found)
            if self.counter is not None:
                self._check_length(record, file, line)
        if not getattr(record, "chat", True):
            # a plain RL prompt has no completion: it becomes one user turn, as documented
            self.plain_pairs |= not getattr(record, "prompt_only", False)

    def _note_digest(self, record: Record) -> None:
        assert self.digests is not None
        digest = content_digest(record)
        self.digests.append(digest)
        where = (record.source.file, record.source.line) if record.source else (self.name, None)
        first = self._seen.setdefault(digest, where)
        if first is not where:
            self.duplicate_count += 1
            if self._first_duplicate is None:
                self._first_duplicate = (_place(where), _place(first))

    def _check_length(self, record: Record, file: str, line: int | None) -> None:
        assert self.counter is not None
        try:
            length = self.counter.count(record)
        except TemplateFailure as exc:
            self.report.add(
                Problem(
                    file=file,
                    line=line,
                    message=str(exc),
                    fix="give the turn order this chat template expects (many templates need "
                    "strictly alternating user/assistant turns)",
                )
            )
            return
        limit = self.max_seq_length
        if limit is not None and length > limit and self._nothing_left(record, limit):
            self.untrainable += 1
            self.report.add(
                Problem(
                    file=file,
                    line=line,
                    severity="warning",
                    message=f"example is {length} tokens and none of its assistant tokens comes "
                    f"before max_seq_length {limit}: cut there, it teaches nothing",
                    fix="shorten the prompt (or system message), split the example, or raise "
                    "max_seq_length",
                )
            )
        elif limit is not None and length > limit:
            self.report.add(
                Problem(
                    file=file,
                    line=line,
                    severity="warning",
                    message=f"example is {'~' if self.approximate else ''}{length} tokens"
                    f"{' (approximate)' if self.approximate else ''}, over max_seq_length "
                    f"{limit}: the last {length - limit} token(s) are cut off in training",
                    fix="shorten or split the example, or raise max_seq_length"
                    + (
                        " (pass --tokenizer / tokenizer= for exact counts)"
                        if self.approximate
                        else ""
                    ),
                )
            )

    def _nothing_left(self, record: Record, limit: int) -> bool:
        """With a real tokenizer: True when no learned token of a conversation survives the cut."""
        if not isinstance(self.counter, HFCounter) or not isinstance(record, Conversation):
            return False
        from tunesdk.data.templates import IGNORE_INDEX, tokenize_record

        try:
            labels = tokenize_record(record, self.counter.tokenizer)["labels"]
        except (DataError, TemplateFailure):
            return False
        return all(label == IGNORE_INDEX for label in labels[:limit])

    def finish(self) -> Report:
        """Add the whole-dataset checks (how many examples) and return the report."""
        report = self.report
        report.examples = self.count
        self.tally.collapse(report)
        if self.count and self.untrainable == self.count:
            report.add(
                Problem(
                    file=self.name,
                    message=f"no example has an assistant token within max_seq_length "
                    f"{self.max_seq_length}: training would learn nothing",
                    fix="raise max_seq_length or shorten the prompts",
                )
            )
        backend = self.rules.name
        if self.count == 0:
            report.add(Problem(file=self.name, message="no examples", fix="give examples"))
        elif self.count < self.minimum:
            report.add(
                Problem(
                    file=self.name,
                    message=f"{self.count} example(s); {backend or 'this job'} needs at least "
                    f"{self.minimum}",
                    fix=f"add at least {self.minimum - self.count} more example(s)",
                )
            )
        if self.duplicate_count:
            unique = self.count - self.duplicate_count
            again, original = self._first_duplicate or ("?", "?")
            report.add(
                Problem(
                    file=self.name,
                    severity="warning",
                    message=f"{self.duplicate_count} exact duplicate example(s): {unique} unique "
                    f"of {self.count} (first: {again} repeats {original}); duplicates weigh "
                    "those examples more and put copies of training examples in an eval split",
                    fix="drop them, unless the repetition is intended: tunesdk clean FILE -o "
                    "CLEAN.jsonl (Python: Dataset.dedupe())",
                )
            )
        if self.plain_pairs and self.rules.chat_only:
            report.add(
                Problem(
                    file=self.name,
                    severity="warning",
                    message=f"{backend} trains chat models only: plain prompt/completion pairs "
                    "are sent as one user turn and one assistant turn",
                    fix="give conversations if prompts need a system message or several turns",
                )
            )
        return report


def content_digest(record: Record) -> int:
    """A 64-bit hash of a record's content (roles, texts, weights, tool calls, tools; not its
    source or unmodelled fields), never 0. Comparable within one process only."""
    if isinstance(record, Text):
        key: Any = ("text", record.text)
    elif isinstance(record, Conversation):
        key = ("sft", record.chat, _turns(record.messages), _tools(record.tools))
    else:
        key = (
            "dpo",
            record.chat,
            _turns(record.prompt),
            _turns(record.chosen),
            _turns(record.rejected),
            _tools(record.tools),
        )
    return hash(key) or 1


def _turns(messages: list[Message]) -> tuple[Any, ...]:
    return tuple(
        (
            m.role,
            m.text,
            m.weight,
            m.tool_call_id,
            tuple((c.name, c.arguments) for c in m.tool_calls) if m.tool_calls else None,
        )
        for m in messages
    )


def _tools(tools: list[Any] | None) -> str | None:
    return json.dumps(tools, sort_keys=True) if tools else None


def _place(where: tuple[str | None, int | None]) -> str:
    file, line = where
    return f"line {line}" if line is not None else str(file)


def make_checker(ds: Any, backend: str | None, **options: Any) -> Checker:
    """A checker for ``ds`` (a Dataset) under ``backend``'s rules."""
    return Checker(name=ds.name, format=ds.format, kind=ds.kind, backend=backend, **options)
