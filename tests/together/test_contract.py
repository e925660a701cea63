"""The contract suite (`tunesdk.testing.contract`) against the Together emulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tunesdk.testing import tiny_chat_data
from tunesdk.testing.contract import BackendContract, BackendFacts


class TestTogetherContract(BackendContract):
    @pytest.fixture(scope="class")
    @classmethod
    def contract_facts(
        cls, providers: Any, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[BackendFacts]:
        with providers.start("together") as provider:
            yield provider.contract_facts(
                job={
                    "model": "meta-llama/Llama-3.1-8B-Instruct",
                    "data": tiny_chat_data(16),
                    "epochs": 2,
                },
                dropped={"output_dir": str(tmp_path_factory.mktemp("together-out"))},
                long_job={"data": tiny_chat_data(64)},
            )
