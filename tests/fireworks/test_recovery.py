"""The recovery suite (`tunesdk.testing.recovery`) against the Fireworks emulator.

A lost upload answer is the one to the dataset's ``:upload``; the dataset is named after the run,
so the repeat finishes that dataset and the account still holds one.
"""

from __future__ import annotations

from typing import Any

import pytest

from tunesdk.testing import tiny_chat_data
from tunesdk.testing.recovery import RecoveryContract, RecoveryFacts


def _datasets(emulator: Any, key: str) -> int:
    import fireworks

    client = fireworks.Fireworks(api_key=key, account_id="acme", base_url=emulator.base_url)
    return len(list(client.datasets.list()))


class TestFireworksRecovery(RecoveryContract):
    @pytest.fixture
    def recovery_facts(self, providers: Any) -> RecoveryFacts:
        return providers.recovery_facts(
            "fireworks",
            job={"model": "llama-v3p1-8b-instruct", "data": tiny_chat_data(16), "epochs": 1},
            upload=("POST", "/v1/accounts/acme/datasets/"),
            create=("POST", "/v1/accounts/acme/supervisedFineTuningJobs"),
            stored_files=_datasets,
        )
