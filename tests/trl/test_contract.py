"""The contract suite (`tunesdk.testing.contract`) against TRL, training the tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunesdk.testing import local_contract_facts
from tunesdk.testing.contract import BackendContract, BackendFacts


class TestTRLContract(BackendContract):
    @pytest.fixture(scope="class")
    @classmethod
    def contract_facts(cls, tiny_model_path: Path) -> BackendFacts:
        return local_contract_facts("trl", tiny_model_path)
