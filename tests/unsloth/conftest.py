from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tunesdk.job import Job
from tunesdk.store import RunRecord, RunStore
from tunesdk_unsloth import UnslothBackend
from tunesdk_unsloth.environment import ASSUME_GPU_ENV

FAKE_UNSLOTH = Path(__file__).parent / "fake_unsloth"


class FakeUnsloth:
    """The test-only ``unsloth`` stand-in, installed for this process and its workers."""

    def __init__(self, calls: Path) -> None:
        self.calls_file = calls

    def calls(self, name: str | None = None) -> list[dict[str, Any]]:
        if not self.calls_file.exists():
            return []
        lines = self.calls_file.read_text(encoding="utf-8").splitlines()
        records = [json.loads(line) for line in lines]
        return [r for r in records if name is None or r["call"] == name]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TUNESDK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(ASSUME_GPU_ENV, raising=False)


@pytest.fixture
def fake_unsloth(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeUnsloth]:
    """The fake on sys.path and the workers' PYTHONPATH, with the GPU check's test hook set."""
    calls = tmp_path / "unsloth_calls.jsonl"
    monkeypatch.syspath_prepend(str(FAKE_UNSLOTH))
    inherited = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(FAKE_UNSLOTH), inherited])))
    monkeypatch.setenv(ASSUME_GPU_ENV, "1")
    monkeypatch.setenv("FAKE_UNSLOTH_CALLS", str(calls))
    yield FakeUnsloth(calls)
    sys.modules.pop("unsloth", None)


@pytest.fixture
def make_record(tmp_path: Path) -> Callable[[Job], RunRecord]:
    """A run folder for a job, as Run.submit makes it (without launching the worker)."""

    def make(job: Job) -> RunRecord:
        return RunStore(tmp_path / "store").create(job, UnslothBackend().plan(job), "unsloth")

    return make


#: where scripts/setup.sh builds the engine environments (read before any test changes the env)
ENGINES_DIR = Path(
    os.environ.get("TUNESDK_ENGINES_DIR")
    or Path(os.environ.get("TUNESDK_HOME") or "~/.tunesdk").expanduser() / "engines"
)


@pytest.fixture
def unsloth_engine(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The real unsloth engine environment that scripts/setup.sh builds, made the one tunesdk
    uses; the test is skipped (saying how to build it) when it is absent."""
    from tunesdk import engines

    monkeypatch.setenv("TUNESDK_ENGINES_DIR", str(ENGINES_DIR))
    monkeypatch.delenv(engines.spec("unsloth").python_env, raising=False)
    found = engines.find_managed("unsloth")
    if found is None:
        pytest.skip(
            f"no unsloth engine environment in {ENGINES_DIR}: build it with `bash scripts/setup.sh` "
            "or `tunesdk engine install unsloth`"
        )
    if not found.current:
        pytest.skip(f"the unsloth engine in {ENGINES_DIR} predates its lock file: rerun setup")
    return found.python


@pytest.fixture(scope="session")
def engines_dir() -> Path:
    """Where scripts/setup.sh builds the engine environments (for class-scoped fixtures)."""
    return ENGINES_DIR
