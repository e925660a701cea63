"""The whole event flow through the public API, with Axolotl replaced at the process boundary by
``fake_axolotl/axolotl`` (which really trains a LoRA adapter on the tiny model)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk.errors import RunFailed
from tunesdk.events import Cancelled, Checkpoint, Completed, Evaluation, Failed, Progress
from tunesdk.local import process_start_time
from tunesdk.testing import tiny_chat_data


def _job(model: Path, **overrides: object) -> ts.Job:
    options: dict[str, object] = {
        "model": str(model),
        "data": tiny_chat_data(16),
        "method": ts.LoRA(r=4),
        "batch_size": 2,
        "max_seq_length": 64,
        "max_steps": 4,
        **overrides,
    }
    return ts.Job(**options)


def test_success_gives_progress_eval_checkpoints_and_a_usable_adapter(
    tiny_model_path: Path, fake_axolotl: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv_file = tmp_path / "argv.json"
    monkeypatch.setenv("FAKE_AXOLOTL_ARGV", str(argv_file))
    seen: list[object] = []
    job = _job(tiny_model_path, eval_split=0.25, n_checkpoints=2)
    result = job.run(backend="axolotl", progress=False, on_event=seen.append)

    progress = [e for e in seen if isinstance(e, Progress)]
    assert [p.step for p in progress] == [1, 2, 3, 4]
    assert all(p.total_steps == 4 for p in progress)
    assert all(p.train_loss is not None and p.grad_norm is not None for p in progress)
    assert progress[-1].epoch == 1.0
    evals = [e for e in seen if isinstance(e, Evaluation)]
    assert len(evals) == 1 and evals[0].step == 4 and evals[0].eval_loss is not None
    assert evals[0].metrics["runtime"] == 0.05
    checkpoints = [e for e in seen if isinstance(e, Checkpoint)]
    assert [c.step for c in checkpoints] == [2, 4]
    assert all(Path(str(c.path)).name == f"checkpoint-{c.step}" for c in checkpoints)
    assert isinstance(seen[-1], Completed)

    model = result.model
    assert isinstance(model, ts.LocalModel)
    assert model.kind == "adapter" and model.engine == "axolotl"
    assert model.base_model == str(tiny_model_path)
    assert (Path(model.path) / "adapter_config.json").exists()
    assert result.metrics["eval_loss"] == evals[0].eval_loss
    # served by the trl backend, found through the registry
    reply = model.chat([{"role": "user", "content": "What does the cat say?"}], max_new_tokens=3)
    assert isinstance(reply, str)

    argv = json.loads(argv_file.read_text())["argv"]
    assert argv[0] == "train" and argv[1].endswith("axolotl/axolotl.yml")
    assert argv[2:] == ["--launcher", "python"]
    run_dir = Path(argv[1]).parent.parent
    assert "Maximum number of steps set at 4" in (run_dir / "axolotl.log").read_text()


def test_a_crash_fails_the_run_with_one_readable_line(
    tiny_model_path: Path, fake_axolotl: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_AXOLOTL_MODE", "oom")
    run = _job(tiny_model_path).submit(backend="axolotl")
    events = list(run.events())
    failed = events[-1]
    assert isinstance(failed, Failed)
    assert "torch.OutOfMemoryError: CUDA out of memory" in failed.error
    assert "\n" not in failed.error
    assert "axolotl.log" in failed.error  # the fix names the full log
    log = Path(run.record.dir) / "axolotl.log"
    assert "Traceback (most recent call last)" in log.read_text()
    assert [e.step for e in events if isinstance(e, Progress)] == [1]
    with pytest.raises(RunFailed):
        run.result()


def test_cancel_stops_axolotl_and_keeps_the_last_checkpoint(
    tiny_model_path: Path, fake_axolotl: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FAKE_AXOLOTL_MODE", "slow")
    argv_file = tmp_path / "argv.json"
    monkeypatch.setenv("FAKE_AXOLOTL_ARGV", str(argv_file))
    run = _job(tiny_model_path, max_steps=60, n_checkpoints=30).submit(backend="axolotl")
    checkpoint = None
    deadline = time.monotonic() + 60
    for event in run.events():
        if isinstance(event, Checkpoint):
            checkpoint = event
            run.cancel()
            break
        assert time.monotonic() < deadline
    assert checkpoint is not None
    rest = list(run.events())
    assert isinstance(rest[-1], Cancelled)
    assert rest[-1].checkpoint is not None
    assert Path(rest[-1].checkpoint).name.startswith("checkpoint-")
    assert (Path(rest[-1].checkpoint) / "adapter_config.json").exists()
    progress = [e.step for e in rest if isinstance(e, Progress)]
    assert not progress or max(progress) < 60
    pid = json.loads(argv_file.read_text())["pid"]
    assert process_start_time(pid) is None  # the axolotl process is gone
