"""The contract suite (`tunesdk.testing.contract`) against the tinker backend, training the tiny
model for real on the offline Tinker server: plan, data, lifecycle and chat, cancel, attach after
the submitter was SIGKILLed, and API keys kept out of the run folder; and the SIGKILLed
submitter case again for a DPO job (its own loop: reference logprobs, custom loss)."""

from __future__ import annotations

from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk.testing import tiny_chat_data, tiny_preference_data
from tunesdk.testing.contract import BackendContract, BackendFacts, ReattachContract
from tunesdk_tinker.emulator import TinkerServer

KEY = "tml-contract-key-0123456789"


@pytest.mark.slow
class TestTinkerContract(BackendContract):
    @pytest.fixture(scope="class")
    @classmethod
    def contract_facts(cls, tiny_model_path: Path, tinker_server: TinkerServer) -> BackendFacts:
        return BackendFacts(
            "tinker",
            job={
                "model": str(tiny_model_path),  # the server serves a local folder by its path
                "data": tiny_chat_data(12),
                "method": ts.LoRA(r=4),
                "batch_size": 4,
                "max_seq_length": 64,
                "max_steps": 3,
            },
            long_job={"max_steps": 400, "batch_size": 1, "epochs": 40},
            dropped={"packing": True},
            emulator=tinker_server,
            api_key=KEY,
            env={"TINKER_CREDENTIAL_CMD": None},
            chat_echoes=False,  # a tiny random model says anything
            generation={"max_new_tokens": 4},
        )


@pytest.mark.slow
class TestTinkerDPOReattach(ReattachContract):
    """Run.attach after the submitter of a DPO run was SIGKILLed at its first Progress."""

    @pytest.fixture(scope="class")
    @classmethod
    def contract_facts(cls, tiny_model_path: Path, tinker_server: TinkerServer) -> BackendFacts:
        return BackendFacts(
            "tinker",
            job={
                "model": str(tiny_model_path),
                "data": tiny_preference_data(8),
                "method": ts.LoRA(r=4),
                "batch_size": 2,
                "max_seq_length": 64,
                "max_steps": 4,
            },
            dropped={"packing": True},
            emulator=tinker_server,
            api_key=KEY,
            env={"TINKER_CREDENTIAL_CMD": None},
        )
