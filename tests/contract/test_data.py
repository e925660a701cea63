"""Malformed data is refused with DataError before any upload or worker start."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tunesdk.errors import DataError
from tunesdk.testing import tiny_chat_data

if TYPE_CHECKING:
    from conftest import Harness


@pytest.mark.parametrize(
    "harness",
    [
        "simulated",
        "openai",
        "together",
        "fireworks",
        "trl",
    ],
    indirect=True,
)
def test_malformed_data_is_refused_before_anything_is_spent(harness: Harness) -> None:
    rows = tiny_chat_data(16)
    rows[3] = {"messages": [{"role": "user", "content": "a question nobody answers"}]}
    job = harness.job(rows)
    before = harness.spent()
    try:
        with pytest.raises(DataError) as refused:
            job.submit(harness.name)
    finally:
        harness.stop_leftovers()
    assert "train.jsonl:4" in str(refused.value)
    assert harness.spent() == before
