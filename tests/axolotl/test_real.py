"""Real Axolotl 0.19.0 through tunesdk on this CPU machine, in the axolotl engine environment.

The worker runs in the engine's interpreter and starts ``python -m axolotl.cli.main train``
there; the run's config turns the CUDA LoRA kernels off and names tunesdk's events plugin, whose
exact numbers become the run's events.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

import tunesdk as ts
from tunesdk.events import Cancelled, Checkpoint, Completed, Evaluation, Failed, Progress
from tunesdk.testing import tiny_chat_data, tiny_preference_data, train_losses
from tunesdk_axolotl import plugin_events

pytestmark = pytest.mark.slow


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
    }
    fields.update(overrides)
    return ts.Job(**{k: v for k, v in fields.items() if v is not None})


def _work_dir(run: ts.Run) -> Path:
    return run.record.dir / "axolotl"


def test_lora_sft_gives_the_trainers_exact_numbers_through_the_plugin(
    axolotl_engine: Path, tiny_model_path: Path
) -> None:
    job = _job(tiny_model_path)
    plan = job.plan("axolotl")
    assert "plugins" not in plan.native and "lora_mlp_kernel" not in plan.native
    assert any("axolotl engine (managed)" in note for note in plan.notes)
    run = job.submit(backend="axolotl")
    result = run.wait(timeout=600)
    events = run.record.events()

    config = yaml.safe_load((_work_dir(run) / "axolotl.yml").read_text())
    assert config["plugins"] == [plugin_events.PLUGIN]
    assert all(config[key] is False for key in ("lora_mlp_kernel", "lora_qkv_kernel"))
    records = [json.loads(x) for x in (_work_dir(run) / plugin_events.EVENTS_FILE).open()]
    assert records[0] == {"kind": "ready"}
    logged = [r["logs"]["loss"] for r in records if r["kind"] == "log" and "loss" in r["logs"]]

    losses = train_losses(events)
    assert losses == logged  # the trainer's floats, not the console's rounded ones
    assert any(loss != round(loss, 4) for loss in losses)
    assert [e.step for e in events if isinstance(e, Progress)] == [1, 2, 3, 4]
    assert all(e.total_steps == 4 for e in events if isinstance(e, Progress))
    assert any(isinstance(e, Evaluation) and e.eval_loss for e in events)
    assert any(isinstance(e, Checkpoint) for e in events) and isinstance(events[-1], Completed)
    model = result.model
    assert isinstance(model, ts.LocalModel) and model.kind == "adapter"
    assert (Path(model.path) / "adapter_model.safetensors").exists()
    assert len(list(Path(model.path).glob("checkpoint-*"))) <= 2  # the last 2 kept


def test_dpo_trains(axolotl_engine: Path, tiny_model_path: Path) -> None:
    job = _job(tiny_model_path, data=tiny_preference_data(16), max_steps=3, eval_split=None)
    result = job.run(backend="axolotl", progress=False)
    steps = [e.step for e in result.events() if isinstance(e, Progress)]
    assert steps == [1, 2, 3]
    assert isinstance(result.model, ts.LocalModel) and result.model.kind == "adapter"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ")[1][0] != "Z"


def test_cancel_stops_axolotl_and_leaves_no_process(
    axolotl_engine: Path, tiny_model_path: Path
) -> None:
    job = _job(tiny_model_path, max_steps=400, eval_split=None, n_checkpoints=1)
    run = job.submit(backend="axolotl")
    for event in run.events(timeout=600):
        if isinstance(event, Progress):
            break
    worker = int(run.record.state["worker_pid"])
    started = time.monotonic()
    run.cancel(wait=True, timeout=120)
    assert time.monotonic() - started < 90
    assert isinstance(run.record.events()[-1], Cancelled)
    steps = [e.step for e in run.record.events() if isinstance(e, Progress)]
    assert steps[-1] < 400
    deadline = time.monotonic() + 10
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(worker)
    # nothing of the run's process group (the Axolotl CLI, its trainer) is left running
    group = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _in_group(p, worker)]
    assert group == []


def _in_group(proc: Path, pgid: int) -> bool:
    try:
        fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return int(fields[2]) == pgid and fields[0] != "Z"


def test_a_crashing_axolotl_run_fails_promptly_with_its_reason(
    axolotl_engine: Path, tiny_model_path: Path, tmp_path: Path
) -> None:
    # a tokenizer folder that does not exist: Axolotl raises while loading it
    job = _job(
        tiny_model_path,
        eval_split=None,
        backend_options={"axolotl": {"tokenizer_config": str(tmp_path / "no-tokenizer")}},
    )
    started = time.monotonic()
    run = job.submit(backend="axolotl")
    with pytest.raises(ts.RunFailed) as failed:
        run.wait(timeout=300)
    assert time.monotonic() - started < 240  # no telemetry retries (AXOLOTL_DO_NOT_TRACK)
    last = run.record.events()[-1]
    assert isinstance(last, Failed) and "axolotl train failed" in last.error
    assert "no-tokenizer" in (run.record.dir / "axolotl.log").read_text() or "no-tokenizer" in str(
        failed.value
    )
