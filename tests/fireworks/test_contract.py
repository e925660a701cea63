"""The contract suite (`tunesdk.testing.contract`) against the Fireworks emulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import tunesdk as ts
from tunesdk.testing import tiny_chat_data
from tunesdk.testing.contract import BackendContract, BackendFacts


def deployed(model: ts.ModelHandle) -> ts.ModelHandle:
    """Fireworks serves a tuned model only once it is deployed."""
    assert isinstance(model, ts.ProviderModel)
    return model.deploy()


class TestFireworksContract(BackendContract):
    @pytest.fixture(scope="class")
    @classmethod
    def contract_facts(cls, providers: Any) -> Iterator[BackendFacts]:
        with providers.start("fireworks") as provider:
            yield provider.contract_facts(
                job={
                    "model": "Qwen/Qwen2.5-7B-Instruct",
                    "data": tiny_chat_data(8),
                    "epochs": 2,
                    "batch_size": 2,
                },
                dropped={"max_grad_norm": 0.5},
                long_job={"data": tiny_chat_data(16), "batch_size": 1},
                serve=deployed,
            )
