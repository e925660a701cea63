"""Real Axolotl 0.19.0 trains KTO (``rl: kto``) and ORPO (``rl: orpo``) on the tiny model, end to
end through ``job.run(backend="axolotl")``, in the axolotl engine environment (about 20 s each)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

import tunesdk as ts
from tunesdk.events import Checkpoint, Completed, Progress
from tunesdk.store import RunStore
from tunesdk.testing import tiny_preference_data, train_losses

pytestmark = pytest.mark.slow


def _kto_rows(n: int = 16) -> list[dict[str, Any]]:
    return [
        {"prompt": f"Say {i}", "completion": str(i) if i % 2 else "no", "label": bool(i % 2)}
        for i in range(n)
    ]


@pytest.mark.parametrize("objective", ["kto", "orpo"])
def test_kto_and_orpo_train_through_job_run(
    axolotl_engine: Path, tiny_model_path: Path, objective: str
) -> None:
    data = _kto_rows() if objective == "kto" else tiny_preference_data(16)
    job = ts.Job(
        model=str(tiny_model_path),
        data=data,
        objective=objective,
        method=ts.LoRA(r=8),
        batch_size=4,
        max_seq_length=64,
        max_steps=3,
        learning_rate=5e-3,
        beta=0.2,
    )
    result = job.run(backend="axolotl", progress=False)
    events = result.events()

    work = RunStore().get(result.run_id).dir / "axolotl"
    config = yaml.safe_load((work / "axolotl.yml").read_text())
    assert config["rl"] == objective
    assert config["rl_beta" if objective == "kto" else "orpo_alpha"] == 0.2
    [entry] = config["datasets"]
    rows = [json.loads(line) for line in Path(entry["path"]).read_text().splitlines()]
    assert len(rows) == 16
    if objective == "kto":
        assert set(rows[0]) == {"prompt", "completion", "label"}
    else:
        assert rows[0]["chosen"][-1]["role"] == "assistant"
    losses = train_losses(events)
    assert len(losses) == 3 and all(loss > 0 for loss in losses)
    assert [e.step for e in events if isinstance(e, Progress)] == [1, 2, 3]
    assert any(isinstance(e, Checkpoint) for e in events) and isinstance(events[-1], Completed)
    model = result.model
    assert isinstance(model, ts.LocalModel) and model.kind == "adapter"
    assert (Path(model.path) / "adapter_model.safetensors").exists()
