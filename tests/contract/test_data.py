"""Malformed data is refused with DataError before any upload or worker start."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tunesdk.errors import DataError
from tunesdk.testing import tiny_chat_data

if TYPE_CHECKING:
    from conftest import Harness

LOCAL_BACKENDS_SKIP_VALIDATION = pytest.mark.xfail(
    strict=True,
    raises=pytest.fail.Exception,  # "DID NOT RAISE": the run was launched
    reason="LocalBackend.preflight does not validate the data: the worker starts and trains on "
    "it (fix belongs in src/tunesdk/local.py)",
)


@pytest.mark.parametrize(
    "harness",
    [
        pytest.param("simulated", marks=LOCAL_BACKENDS_SKIP_VALIDATION),
        "openai",
        "together",
        "fireworks",
        pytest.param("trl", marks=LOCAL_BACKENDS_SKIP_VALIDATION),
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
