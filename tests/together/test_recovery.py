"""The recovery suite (`tunesdk.testing.recovery`) against the Together emulator.

A lost upload answer is the one to ``POST /v1/files/{id}/preprocess``, the SDK's last upload
step; a repeat of the upload is deduplicated by checksum, so the account still holds one file.
"""

from __future__ import annotations

from typing import Any

import pytest

from tunesdk.testing import tiny_chat_data
from tunesdk.testing.recovery import RecoveryContract, RecoveryFacts


def _files(emulator: Any, key: str) -> int:
    from together import Together

    return len(Together(base_url=emulator.base_url, api_key=key).files.list().data)


class TestTogetherRecovery(RecoveryContract):
    @pytest.fixture
    def recovery_facts(self, providers: Any) -> RecoveryFacts:
        return providers.recovery_facts(
            "together",
            job={
                "model": "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
                "data": tiny_chat_data(16),
                "epochs": 1,
            },
            upload=("POST", "/v1/files/"),
            create=("POST", "/v1/fine-tunes"),
            stored_files=_files,
        )
