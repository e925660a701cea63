"""Shared fixtures: a tiny local model (config.json + tokenizer) and an empty tiktoken cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunesdk.testing import tiny_model


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(autouse=True)
def offline_token_counting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No cached tiktoken vocabulary and no user price table: estimates stay offline and default."""
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "no-tiktoken-cache"))
    monkeypatch.delenv("TUNESDK_PRICES", raising=False)
