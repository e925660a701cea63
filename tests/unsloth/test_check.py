"""check()/submit on a machine without a GPU: a clear BackendUnavailable, nothing imported."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tunesdk as ts
from tunesdk.errors import BackendUnavailable, JobError
from tunesdk.store import RunStore
from tunesdk.testing import tiny_chat_data
from tunesdk_unsloth import UnslothBackend
from tunesdk_unsloth.environment import ASSUME_GPU_ENV, NO_GPU, find_gpu

FAKE_UNSLOTH = Path(__file__).parent / "fake_unsloth"


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """This CPU machine, with the fake unsloth importable but the test hook off."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    calls = tmp_path / "calls.jsonl"
    monkeypatch.syspath_prepend(str(FAKE_UNSLOTH))
    monkeypatch.setenv("FAKE_UNSLOTH_CALLS", str(calls))
    yield calls
    sys.modules.pop("unsloth", None)


def test_check_says_there_is_no_gpu_without_importing_unsloth(no_gpu: Path) -> None:
    check = UnslothBackend().check()
    assert not check.usable
    assert check.reason == "needs an NVIDIA/AMD/Intel GPU; found none" == NO_GPU
    assert "backend='trl'" in (check.fix or "")
    assert check.versions["unsloth"] == "2026.10.9"  # from importlib.metadata, not an import
    assert "unsloth" not in sys.modules and not no_gpu.exists()


def test_submit_refuses_before_a_run_is_created(no_gpu: Path, tiny_model_path: Path) -> None:
    job = ts.Job(model=str(tiny_model_path), data=tiny_chat_data(4))
    with pytest.raises(BackendUnavailable, match="found none"):
        job.submit(backend="unsloth")
    runs = RunStore().runs_dir
    assert not runs.exists() or not any(runs.iterdir())
    assert "unsloth" not in sys.modules


def test_train_in_the_worker_refuses_before_importing_unsloth(
    no_gpu: Path, tiny_model_path: Path, tmp_path: Path
) -> None:
    job = ts.Job(model=str(tiny_model_path), data=tiny_chat_data(4))
    record = RunStore(tmp_path / "s").create(job, UnslothBackend().plan(job), "unsloth")
    with pytest.raises(BackendUnavailable, match="found none"):
        UnslothBackend().train(record)
    assert "unsloth" not in sys.modules and not no_gpu.exists()


def test_the_backend_list_explains_why_unsloth_is_unusable(no_gpu: Path) -> None:
    info = {b.name: b for b in ts.backends()}["unsloth"]
    assert info.installed and not info.usable and info.reason == NO_GPU


def test_with_a_gpu_and_unsloth_the_backend_is_usable(fake_unsloth: Any) -> None:
    check = UnslothBackend().check()
    assert check.usable and check.versions["unsloth"] == "2026.10.9"
    assert "tests only" in check.versions["gpu"]


def test_with_a_gpu_but_no_unsloth_the_fix_is_the_gpu_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ASSUME_GPU_ENV, "1")
    assert find_gpu() is not None
    check = UnslothBackend().check()
    assert not check.usable and check.reason == "missing unsloth"
    assert check.fix is not None and "tunesdk-unsloth[gpu]" in check.fix


def test_a_target_module_missing_from_the_model_is_refused_before_launch(
    fake_unsloth: Any, tiny_model_path: Path
) -> None:
    job = ts.Job(
        model=str(tiny_model_path), data=tiny_chat_data(4), method=ts.LoRA(target_modules=["nope"])
    )
    with pytest.raises(JobError, match="nope"):
        job.submit(backend="unsloth")
    assert not fake_unsloth.calls()


def test_a_missing_model_path_is_refused_before_launch(fake_unsloth: Any) -> None:
    job = ts.Job(model="/no/such/model", data=tiny_chat_data(4))
    with pytest.raises(JobError, match="no model at"):
        job.submit(backend="unsloth")
