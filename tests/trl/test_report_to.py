"""``report_to``: trackers pass through to SFTConfig/DPOConfig; missing ones are refused early."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk.errors import BackendUnavailable
from tunesdk.store import RunRecord
from tunesdk.testing import tiny_chat_data, tiny_preference_data
from tunesdk_trl import TRLBackend


def test_trackers_pass_through_to_the_trainer_config() -> None:
    sft = ts.Job(model="org/model", data=tiny_chat_data(4), report_to=["tensorboard", "wandb"])
    plan = TRLBackend().plan(sft)
    assert plan.native["config"]["report_to"] == ["tensorboard", "wandb"]
    assert plan.row("report_to").native == "SFTConfig.report_to"
    dpo = ts.Job(model="org/model", data=tiny_preference_data(4), report_to=["mlflow"])
    assert TRLBackend().plan(dpo).native["config"]["report_to"] == ["mlflow"]
    quiet = ts.Job(model="org/model", data=tiny_chat_data(4))
    assert TRLBackend().plan(quiet).native["config"]["report_to"] == "none"


def test_a_tracker_that_is_not_installed_is_refused_with_the_pip_fix(
    tiny_model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "mlflow" else real_find_spec(name, *a),
    )
    job = ts.Job(model=str(tiny_model_path), data=tiny_chat_data(4), report_to=["mlflow"])
    check = TRLBackend().check_job(job)
    assert not check.usable
    assert check.reason == "report_to includes 'mlflow' but the mlflow package is not installed"
    assert check.fix is not None and check.fix.startswith("pip install 'tunesdk-trl[mlflow]'")
    with pytest.raises(BackendUnavailable, match="mlflow"):
        job.submit(backend="trl")


def test_tensorboard_writes_event_files_under_the_run_outputs(
    tiny_model_path: Path, make_record: Callable[[ts.Job], RunRecord]
) -> None:
    if importlib.util.find_spec("tensorboard") is None:
        pytest.skip("pip install 'tunesdk-trl[tensorboard]' to run this test")
    job = ts.Job(
        model=str(tiny_model_path),
        data=tiny_chat_data(8),
        method=ts.LoRA(r=4),
        batch_size=4,
        max_seq_length=64,
        max_steps=2,
        report_to=["tensorboard"],
    )
    assert TRLBackend().check_job(job).usable
    record = make_record(job)
    TRLBackend().train(record)
    event_files = list(record.outputs_dir.rglob("events.out.tfevents.*"))
    assert event_files and all(f.stat().st_size > 0 for f in event_files)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(event_files[0].parent))
    accumulator.Reload()
    assert "train/loss" in accumulator.Tags()["scalars"]
    assert [s.step for s in accumulator.Scalars("train/loss")] == [1, 2]
