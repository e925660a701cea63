"""The contract suite (`tunesdk.testing.contract`) against TRL, training the tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk.testing import tiny_chat_data
from tunesdk.testing.contract import BackendContract, BackendFacts


class TestTRLContract(BackendContract):
    @pytest.fixture(scope="class")
    @classmethod
    def contract_facts(cls, tiny_model_path: Path) -> BackendFacts:
        return BackendFacts(
            "trl",
            job={
                "model": str(tiny_model_path),
                "data": tiny_chat_data(12),
                "method": ts.LoRA(r=4),
                "batch_size": 4,
                "max_seq_length": 64,
                "max_steps": 3,
            },
            dropped={"suffix": "bot"},
            # each would start another worker, which needs seconds to import torch
            cancel=False,
            reattach=False,
            chat_echoes=False,
            generation={"max_new_tokens": 4},
        )
