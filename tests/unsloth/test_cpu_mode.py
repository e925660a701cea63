"""The CPU-mode opt-in on a machine without a GPU, decided before any worker starts (no engine
and no unsloth import needed): allow_cpu / TUNESDK_UNSLOTH_ALLOW_CPU, its plan row, DPO refused,
and the last 2 checkpoints kept."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk.testing import tiny_chat_data, tiny_preference_data
from tunesdk_unsloth import UnslothBackend, environment

FAKE_UNSLOTH = Path(__file__).parent / "fake_unsloth"
CPU = {"unsloth": {"allow_cpu": True}}


@pytest.fixture
def no_gpu_with_unsloth(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """This CPU machine with the stand-in unsloth importable and the GPU test hook off."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    monkeypatch.syspath_prepend(str(FAKE_UNSLOTH))
    monkeypatch.setenv("FAKE_UNSLOTH_CALLS", str(tmp_path / "calls.jsonl"))
    monkeypatch.delenv(environment.ALLOW_CPU_ENV, raising=False)
    yield
    sys.modules.pop("unsloth", None)


def _job(model: Path, **overrides: object) -> ts.Job:
    fields: dict[str, object] = {"model": str(model), "data": tiny_chat_data(4)}
    fields.update(overrides)
    return ts.Job(**fields)  # type: ignore[arg-type]


def test_the_opt_in_makes_the_cpu_usable(no_gpu_with_unsloth: None, tiny_model_path: Path) -> None:
    backend = UnslothBackend()
    assert not backend.check_job(_job(tiny_model_path)).usable  # not without it
    check = backend.check_job(_job(tiny_model_path, backend_options=CPU))
    assert check.usable and check.reason == environment.CPU_MODE
    assert "unsloth" not in sys.modules  # decided without importing it


def test_the_environment_switch_opts_in_every_job(
    no_gpu_with_unsloth: None, tiny_model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(environment.ALLOW_CPU_ENV, "1")
    assert UnslothBackend().check().usable
    assert UnslothBackend().check_job(_job(tiny_model_path)).usable


def test_the_refusal_names_the_opt_in(no_gpu_with_unsloth: None, tiny_model_path: Path) -> None:
    with pytest.raises(ts.BackendUnavailable, match="found none") as refused:
        _job(tiny_model_path).submit(backend="unsloth")
    assert '{"allow_cpu": True}' in (refused.value.fix or "")
    assert environment.ALLOW_CPU_ENV in (refused.value.fix or "")


def test_dpo_is_refused_in_cpu_mode(no_gpu_with_unsloth: None, tiny_model_path: Path) -> None:
    job = _job(tiny_model_path, data=tiny_preference_data(4), backend_options=CPU)
    check = UnslothBackend().check_job(job)
    assert not check.usable and "CPU mode trains SFT only" in str(check.reason)


def test_allow_cpu_is_read_by_tunesdk_not_passed_to_trl(tiny_model_path: Path) -> None:
    plan = _job(tiny_model_path, backend_options=CPU).plan("unsloth")
    assert "allow_cpu" not in plan.native["config"]
    row = plan.row("backend_options.allow_cpu")
    assert row.status == "mapped" and row.native == "UNSLOTH_FORCE_CPU"
    assert any("Unsloth's CPU mode" in note for note in plan.notes)


def test_the_last_two_checkpoints_are_kept_unless_the_job_says(tiny_model_path: Path) -> None:
    plan = _job(tiny_model_path).plan("unsloth")
    assert plan.native["config"]["save_total_limit"] == 2
    assert plan.row("n_checkpoints").status == "defaulted"
    assert "last 2" in str(plan.row("n_checkpoints").reason)
    assert (
        _job(tiny_model_path, n_checkpoints=5).plan("unsloth").native["config"]["save_total_limit"]
        == 5
    )


def test_the_worker_asks_unsloth_for_its_cpu_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UNSLOTH_FORCE_CPU", raising=False)
    monkeypatch.delenv(environment.ASSUME_GPU_ENV, raising=False)
    monkeypatch.setattr(environment, "find_gpu", lambda in_engine=None: None)
    environment.prepare_cpu_mode()
    assert os.environ["UNSLOTH_FORCE_CPU"] == "1"
    monkeypatch.setenv("UNSLOTH_FORCE_CPU", "0")  # a user's own setting wins
    environment.prepare_cpu_mode()
    assert os.environ["UNSLOTH_FORCE_CPU"] == "0"
