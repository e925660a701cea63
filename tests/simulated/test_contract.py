"""The contract suite (`tunesdk.testing.contract`) against the built-in simulated backend."""

from __future__ import annotations

import pytest

from tunesdk.testing import tiny_chat_data
from tunesdk.testing.contract import BackendContract, BackendFacts


class TestSimulatedContract(BackendContract):
    @pytest.fixture(scope="class")
    @classmethod
    def contract_facts(cls) -> BackendFacts:
        return BackendFacts(
            "simulated",
            job={"model": "tiny/model", "data": tiny_chat_data(16), "max_steps": 6},
            dropped={"weight_decay": 0.05},
            long_job={"max_steps": 400, "backend_options": {"simulated": {"step_seconds": 0.05}}},
        )
