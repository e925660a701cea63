from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tunesdk.job import Job
from tunesdk.store import RunRecord, RunStore
from tunesdk.testing import tiny_model
from tunesdk_trl import TRLBackend


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TUNESDK_HOME", str(tmp_path / "home"))


@pytest.fixture
def make_record(tmp_path: Path) -> Callable[[Job], RunRecord]:
    """A run folder for a job, as Run.submit makes it (without launching the worker)."""

    def make(job: Job) -> RunRecord:
        return RunStore(tmp_path / "store").create(job, TRLBackend().plan(job), "trl")

    return make
