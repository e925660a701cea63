"""The tunesdk contract suite, run against the lookup backend: all a plugin needs to hold itself
to what every backend promises (see "Test it" in docs/guide/plugins.md)."""

from __future__ import annotations

import pytest

import tunesdk as ts
from tunesdk.testing import tiny_chat_data
from tunesdk.testing.contract import BackendContract, BackendFacts


class TestLookupContract(BackendContract):
    @pytest.fixture(scope="class")
    @classmethod
    def contract_facts(cls) -> BackendFacts:
        return BackendFacts(
            "lookup",
            job={
                "model": "lookup-base",
                "data": tiny_chat_data(12),
                "method": ts.Full(),  # what it trains (its Capabilities)
                "epochs": 2,
                "batch_size": 4,
            },
            dropped={"learning_rate": 1e-3},  # a lookup table has no weights to optimise
            cancel=False,  # a run takes milliseconds: nothing to cancel mid-way
            chat_echoes=False,  # it answers with a memorised answer, not the question
        )
