"""The contract suite (`tunesdk.testing.contract`) against Unsloth, with the test-only stand-in
``fake_unsloth`` on the worker's PYTHONPATH (it trains the tiny model with transformers + peft)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk.testing import tiny_chat_data
from tunesdk.testing.contract import BackendContract, BackendFacts
from tunesdk_unsloth.environment import ASSUME_GPU_ENV

FAKE_UNSLOTH = Path(__file__).parent / "fake_unsloth"


class TestUnslothContract(BackendContract):
    @pytest.fixture(scope="class")
    @classmethod
    def contract_facts(
        cls, tiny_model_path: Path, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[BackendFacts]:
        calls = tmp_path_factory.mktemp("unsloth-calls") / "calls.jsonl"
        yield BackendFacts(
            "unsloth",
            job={
                "model": str(tiny_model_path),
                "data": tiny_chat_data(12),
                "method": ts.LoRA(r=4),
                "batch_size": 4,
                "max_seq_length": 64,
                "max_steps": 3,
            },
            dropped={"suffix": "bot"},
            env={ASSUME_GPU_ENV: "1", "FAKE_UNSLOTH_CALLS": str(calls)},
            python_path=[FAKE_UNSLOTH],
            # each would start another worker, which needs seconds to import torch
            cancel=False,
            reattach=False,
            chat_echoes=False,
            generation={"max_new_tokens": 4},
        )
        sys.modules.pop("unsloth", None)  # chat() imported the fake in this process
