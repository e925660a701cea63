"""The contract suite's lifecycle cases against real Unsloth (its CPU mode), in the unsloth engine
environment scripts/setup.sh builds; skipped, saying how to build it, when that is absent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk import engines
from tunesdk.testing import tiny_chat_data
from tunesdk.testing.contract import BackendContract, BackendFacts
from tunesdk_unsloth.environment import ALLOW_CPU_ENV

pytestmark = pytest.mark.slow


class TestRealUnslothContract(BackendContract):
    @pytest.fixture(scope="class")
    @classmethod
    def contract_facts(cls, tiny_model_path: Path, engines_dir: Path) -> Iterator[BackendFacts]:
        marker = engines_dir / "unsloth" / engines.MARKER
        if not marker.exists():
            pytest.skip(
                f"no unsloth engine environment in {engines_dir}: build it with "
                "`bash scripts/setup.sh` or `tunesdk engine install unsloth`"
            )
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
            # the machine-wide switch (the per-job allow_cpu is covered by test_real_cpu.py)
            env={engines.ROOT_ENV: str(engines_dir), ALLOW_CPU_ENV: "1"},
            # each would start another worker, which needs seconds to import Unsloth
            cancel=False,
            reattach=False,
            chat_echoes=False,
            generation={"max_new_tokens": 4},
        )
