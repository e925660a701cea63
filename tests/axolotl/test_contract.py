"""The contract suite (`tunesdk.testing.contract`) against Axolotl, with the ``axolotl`` command
replaced by ``fake_axolotl/axolotl`` (which really trains a LoRA adapter on the tiny model)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk.testing import tiny_chat_data
from tunesdk.testing.contract import BackendContract, BackendFacts

FAKE_AXOLOTL = Path(__file__).parent / "fake_axolotl" / "axolotl"


class TestAxolotlContract(BackendContract):
    @pytest.fixture(scope="class")
    @classmethod
    def contract_facts(cls, tiny_model_path: Path) -> BackendFacts:
        return BackendFacts(
            "axolotl",
            job={
                "model": str(tiny_model_path),
                "data": tiny_chat_data(12),
                "method": ts.LoRA(r=4),
                "batch_size": 4,
                "max_seq_length": 64,
                "max_steps": 3,
            },
            dropped={"suffix": "bot"},
            env={"TUNESDK_AXOLOTL_COMMAND": shlex.join([sys.executable, str(FAKE_AXOLOTL)])},
            # each would start another worker and engine, which need seconds to import torch
            cancel=False,
            reattach=False,
            chat_echoes=False,
            generation={"max_new_tokens": 4},
        )
