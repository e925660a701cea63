"""The contract suite (`tunesdk.testing.contract`) against the OpenAI emulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tunesdk.testing import tiny_chat_data
from tunesdk.testing.contract import BackendContract, BackendFacts


class TestOpenAIContract(BackendContract):
    @pytest.fixture(scope="class")
    @classmethod
    def contract_facts(cls, providers: Any) -> Iterator[BackendFacts]:
        # contract_facts removes the Azure and W&B variables a developer's shell may hold
        with providers.start("openai") as provider:
            yield provider.contract_facts(
                job={
                    "model": "gpt-4o-mini-2024-07-18",
                    "data": tiny_chat_data(12),
                    "epochs": 2,
                    "batch_size": 4,
                },
                dropped={"weight_decay": 0.05},
                long_job={"data": tiny_chat_data(40), "batch_size": 1},
            )
