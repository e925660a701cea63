# mypy: disable-error-code="union-attr"
"""split, dedupe, mix and decontaminate."""

from __future__ import annotations

from collections import Counter

import pytest

from tunesdk.data import Dataset, decontaminate, mix
from tunesdk.errors import DataError


def numbered(chat, count: int, tag: str = "q") -> list[dict]:
    return [chat(f"{tag} {i}", f"answer {i}") for i in range(count)]


def questions(ds) -> list[str]:
    return [record.messages[0].content for record in ds]


def test_split_is_deterministic_disjoint_and_exact(chat, write_jsonl):
    ds = Dataset.load(write_jsonl(numbered(chat, 100)))
    train, held_out = ds.split(0.1, seed=7)
    assert len(held_out) == 10 and len(train) == 90
    assert set(questions(train)).isdisjoint(questions(held_out))
    assert sorted(questions(train) + questions(held_out)) == sorted(questions(ds))
    _again_train, again_eval = Dataset.load(write_jsonl(numbered(chat, 100))).split(0.1, seed=7)
    assert questions(again_eval) == questions(held_out)
    assert questions(ds.split(0.1, seed=8)[1]) != questions(held_out)
    # views stream again and keep the file lines
    assert questions(held_out) == questions(held_out)
    assert all(r.source.file.endswith("data.jsonl") for r in held_out)


def test_split_of_a_split_and_bad_fractions(chat):
    ds = Dataset.load(numbered(chat, 20))
    train, _ = ds.split(0.5, seed=1)
    inner_train, inner_eval = train.split(0.2, seed=1)
    assert (len(inner_train), len(inner_eval)) == (8, 2)
    assert set(questions(inner_eval)) <= set(questions(train))
    with pytest.raises(DataError, match="between 0 and 1"):
        ds.split(1.5)
    with pytest.raises(DataError, match="cannot split 1"):
        Dataset.load(numbered(chat, 1)).split(0.5)


def test_dedupe_drops_exact_duplicates_only(chat):
    rows = [chat("a", "b"), chat("a", "b"), chat("a", "c"), {**chat("a", "b"), "id": 9}]
    deduped = Dataset.load(rows).dedupe()
    assert [(r.messages[1].content, r.source.line) for r in deduped] == [("b", 1), ("c", 3)]
    assert len(deduped) == 2


def test_mix_hits_the_ratio_exactly_and_deterministically(chat):
    task = Dataset.load(numbered(chat, 80, "task"))
    general = Dataset.load(numbered(chat, 500, "general"))
    mixed = mix([(task, 0.8), (general, 0.2)], seed=3)
    # as large as possible without repeating: all 80 task examples are 80% of 100
    assert len(mixed) == 100
    origin = Counter(q.split()[0] for q in questions(mixed))
    assert origin == {"task": 80, "general": 20}
    assert len(set(questions(mixed))) == 100
    assert questions(mix([(task, 0.8), (general, 0.2)], seed=3)) == questions(mixed)
    assert questions(mix([(task, 0.8), (general, 0.2)], seed=4)) != questions(mixed)


def test_mix_with_a_size_repeats_small_parts(chat):
    mixed = mix(
        [(numbered(chat, 3, "task"), 0.5), (numbered(chat, 50, "general"), 0.5)], seed=0, size=20
    )
    counts = Counter(questions(mixed))
    assert sum(v for q, v in counts.items() if q.startswith("task")) == 10
    assert {q: v for q, v in counts.items() if q.startswith("task")} in (
        {"task 0": 4, "task 1": 3, "task 2": 3},
        {"task 0": 3, "task 1": 4, "task 2": 3},
        {"task 0": 3, "task 1": 3, "task 2": 4},
    )


def test_mix_refuses_different_kinds_and_bad_weights(chat):
    with pytest.raises(DataError, match="cannot mix dpo and sft"):
        mix([([chat()], 0.5), ([{"prompt": "p", "chosen": "a", "rejected": "b"}], 0.5)])
    with pytest.raises(DataError, match="positive"):
        mix([([chat()], 0.0)])


SHARED = "the quick brown fox jumps over the lazy dog near the river bank today"


def test_decontaminate_reports_the_lines_and_optionally_drops(chat, write_jsonl):
    train = write_jsonl(
        [
            chat("hello there", "general kenobi"),
            chat(f"Q: {SHARED.upper()}!", "a"),
            chat("unrelated", "stuff"),
            chat("What is the capital of France?", "It is Paris, of course"),
        ],
        "train.jsonl",
    )
    held_out = write_jsonl(
        [
            chat("x", "y"),
            chat(f"Recall: {SHARED}", "b"),
            chat("What is the capital of France?", "It is Paris"),
        ],
        "eval.jsonl",
    )
    report = decontaminate(train, held_out, n=13)
    assert [(o.train_line, o.eval_line) for o in report.overlaps] == [(2, 2), (4, 3)]
    assert report.overlaps[0].ngram.split()[:3] == ["the", "quick", "brown"]
    assert f"{train}:2" in report.render()
    assert len(list(report.dataset)) == 4  # not dropped
    cleaned = decontaminate(train, held_out, n=13, drop=True).dataset
    assert [r.source.line for r in cleaned] == [1, 3]


def test_decontaminate_ignores_short_common_phrases(chat):
    report = decontaminate([chat("yes", "ok thanks")], [chat("yes", "ok thanks")])
    assert report.overlaps == []


def test_head_reads_only_what_it_needs(chat, write_jsonl):
    path = write_jsonl([*numbered(chat, 3), "{broken"])
    ds = Dataset.load(path)
    assert questions(ds.head(2)) == ["q 0", "q 1"]  # the broken last line is never reached
    with pytest.raises(DataError, match=":4"):
        ds.head(10)
