"""The trl backend through the public API: Job.run spawns the worker process."""

from __future__ import annotations

from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk.errors import BackendUnavailable, JobError
from tunesdk.events import Completed, Progress
from tunesdk.testing import tiny_chat_data


def test_job_run_trains_in_the_worker_and_returns_a_usable_model(tiny_model_path: Path) -> None:
    job = ts.Job(
        model=str(tiny_model_path),
        data=tiny_chat_data(16),
        eval_split=0.25,
        method=ts.LoRA(r=4),
        batch_size=4,
        max_seq_length=64,
        max_steps=3,
    )
    seen: list[object] = []
    result = job.run(backend="trl", progress=False, on_event=seen.append)
    assert any(isinstance(e, Progress) for e in seen)
    assert isinstance(seen[-1], Completed)
    assert isinstance(result.model, ts.LocalModel) and result.model.kind == "adapter"
    assert "eval_loss" in result.metrics
    assert isinstance(result.model.chat([{"role": "user", "content": "hi"}], max_new_tokens=3), str)


def test_bad_target_module_is_refused_before_launch(tiny_model_path: Path) -> None:
    job = ts.Job(
        model=str(tiny_model_path), data=tiny_chat_data(4), method=ts.LoRA(target_modules=["nope"])
    )
    with pytest.raises(JobError, match="nope"):
        job.submit(backend="trl")


def test_qlora_on_cpu_is_refused_before_launch(tiny_model_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    job = ts.Job(model=str(tiny_model_path), data=tiny_chat_data(4), method=ts.QLoRA())
    with pytest.raises(BackendUnavailable, match="CUDA GPU"):
        job.submit(backend="trl")
