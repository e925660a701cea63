from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tunesdk.job import Job
from tunesdk.store import RunRecord, RunStore
from tunesdk_trl import TRLBackend


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
