# mypy: disable-error-code="union-attr"
"""Reading, validating and converting stream: memory stays flat however big the file is."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

from tunesdk.data import Dataset

LINE_TEMPLATE = {
    "messages": [
        {"role": "system", "content": "You are a support agent. " * 4},
        {"role": "user", "content": "Where is my order number {i}? " * 10},
        {"role": "assistant", "content": "It ships tomorrow, order {i}. " * 20},
    ]
}


def big_file(path: Path, megabytes: int) -> int:
    line = json.dumps(LINE_TEMPLATE)
    count = 0
    with path.open("w") as out:
        while out.tell() < megabytes * 1_000_000:
            out.write(line.replace("{i}", str(count)) + "\n")
            count += 1
    return count


def peak_mb(action) -> float:
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def test_convert_validate_and_count_use_bounded_memory(tmp_path):
    source = tmp_path / "big.jsonl"
    count = big_file(source, 12)
    ds = Dataset.load(source)
    # a 12 MB file held in memory would show as well over 12 MB of Python objects
    assert peak_mb(lambda: ds.to("openai", tmp_path / "out.jsonl")) < 3
    assert peak_mb(lambda: ds.validate("openai")) < 3
    assert peak_mb(lambda: len(Dataset.load(source))) < 3
    assert sum(1 for _ in (tmp_path / "out.jsonl").open()) == count


def test_a_dataset_streams_again_and_caches_its_length(tmp_path):
    source = tmp_path / "small.jsonl"
    count = big_file(source, 1)
    ds = Dataset.load(source)
    assert len(ds) == count
    first = [r.messages[1].content for r in ds]
    assert [r.messages[1].content for r in ds] == first
    source.write_text("")  # the cached length does not re-read the file
    assert len(ds) == count
