"""Real Unsloth 2026.10.9 through tunesdk, in its CPU mode, in the unsloth engine environment.

The worker runs in the engine's interpreter (torch 2.13 CPU, transformers 5.17, trl 1.15), which
imports this checkout's tunesdk through the links in the run folder; the caller (this process)
only reads the run folder and chats with the result through the trl backend's loader.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import tunesdk as ts
from tunesdk.events import Cancelled, Checkpoint, Completed, Evaluation, Progress
from tunesdk.store import RunStore
from tunesdk.testing import tiny_chat_data, tiny_preference_data, train_losses

pytestmark = pytest.mark.slow

CPU = {"unsloth": {"allow_cpu": True}}


def _job(model: Path, **overrides: Any) -> ts.Job:
    fields: dict[str, Any] = {
        "model": str(model),
        "data": tiny_chat_data(16),
        "eval_split": 0.25,
        "method": ts.LoRA(r=8),
        "batch_size": 4,
        "max_seq_length": 64,
        "max_steps": 4,
        "learning_rate": 5e-3,
        "backend_options": CPU,
    }
    fields.update(overrides)
    return ts.Job(**{k: v for k, v in fields.items() if v is not None})


def _worker_log(run_id: str) -> str:
    return RunStore().get(run_id).worker_log.read_text(encoding="utf-8", errors="replace")


def _checkpoint_folders(model: ts.LocalModel) -> list[str]:
    root = Path(model.path).parent
    return sorted(p.name for p in root.glob("checkpoint-*"))


def test_lora_sft_trains_in_unsloths_cpu_mode_and_the_result_chats(
    unsloth_engine: Path, tiny_model_path: Path
) -> None:
    job = _job(tiny_model_path)
    assert any("unsloth engine (managed)" in note for note in job.plan("unsloth").notes)
    seen: list[object] = []
    result = job.run(backend="unsloth", progress=False, on_event=seen.append)

    losses = train_losses(seen)  # type: ignore[arg-type]
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert [e.step for e in seen if isinstance(e, Progress)] == [1, 2, 3, 4]
    assert any(isinstance(e, Evaluation) and e.eval_loss for e in seen)
    assert any(isinstance(e, Checkpoint) for e in seen) and isinstance(seen[-1], Completed)
    log = _worker_log(result.run_id)
    assert "no GPU found, training on CPU" in log  # Unsloth's own CPU mode, not plain TRL
    model = result.model
    assert isinstance(model, ts.LocalModel) and model.kind == "adapter"
    assert model.engine == "unsloth"
    assert len(_checkpoint_folders(model)) <= 2  # the last 2 kept (n_checkpoints unset)
    reply = model.chat([{"role": "user", "content": "What does the cat say?"}], max_new_tokens=4)
    assert isinstance(reply, str)


def test_full_fine_tuning_in_cpu_mode(unsloth_engine: Path, tiny_model_path: Path) -> None:
    result = _job(tiny_model_path, method=ts.Full(), learning_rate=1e-3).run(
        backend="unsloth", progress=False
    )
    assert isinstance(result.model, ts.LocalModel) and result.model.kind == "full"
    assert (Path(result.model.path) / "config.json").exists()
    assert "full finetuning" in _worker_log(result.run_id)


def test_cancel_keeps_a_checkpoint_and_resume_continues_from_it(
    unsloth_engine: Path, tiny_model_path: Path
) -> None:
    job = _job(tiny_model_path, max_steps=60, n_checkpoints=30, eval_split=None)
    run = job.submit(backend="unsloth")
    checkpoint = None
    for event in run.events(timeout=300):
        if isinstance(event, Checkpoint):
            checkpoint = event
            break
    assert checkpoint is not None and checkpoint.path
    run.cancel(wait=True, timeout=120)
    events = run.record.events()
    cancelled = events[-1]
    assert isinstance(cancelled, Cancelled) and cancelled.checkpoint
    assert not any(isinstance(e, Completed) for e in events)

    resumed = job.submit(backend="unsloth", resume=run.run_id)
    resumed.wait(timeout=300)
    steps = [e.step for e in resumed.record.events() if isinstance(e, Progress)]
    assert steps and steps[0] > int(Path(cancelled.checkpoint).name.split("-")[1])
    assert steps[-1] == 60


def test_dpo_is_refused_in_cpu_mode_before_any_worker(
    unsloth_engine: Path, tiny_model_path: Path
) -> None:
    job = _job(tiny_model_path, data=tiny_preference_data(8), eval_split=None)
    with pytest.raises(ts.BackendUnavailable, match="CPU mode trains SFT only"):
        job.submit(backend="unsloth")


def test_without_the_opt_in_the_engine_still_refuses_the_cpu(
    unsloth_engine: Path, tiny_model_path: Path
) -> None:
    with pytest.raises(ts.BackendUnavailable, match="found none"):
        _job(tiny_model_path, backend_options={}).submit(backend="unsloth")
