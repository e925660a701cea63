"""The RL glue on the unsloth engine's own stack (Unsloth 2026.10.9, trl 1.15, transformers 5.17).

Unsloth's CPU mode trains SFT only, so jobs refuse GRPO there (``check_job``); this test calls
``UnslothBackend.train`` directly in the engine's interpreter, past that refusal, to check that
tunesdk-trl's GRPO config, dataset and checked rewards fit the older TRL the engine pins. Unsloth's
GPU-patched trainers are exercised by benchmarks/gpu/unsloth_check.py on a GPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import json, sys
from pathlib import Path
import tunesdk as ts
from tunesdk.events import Progress
from tunesdk.store import RunStore
from tunesdk_unsloth import UnslothBackend

job = ts.Job(
    model=sys.argv[1], data=[{"prompt": "the quick brown fox", "answer": "o"}] * 16,
    rewards=["engine_rewards:has_o"], num_generations=4, max_completion_length=8,
    method=ts.LoRA(r=8), batch_size=8, max_steps=2, learning_rate=1e-3,
    backend_options={"unsloth": {"allow_cpu": True}},
)
backend = UnslothBackend()
record = RunStore(Path(sys.argv[2])).create(job, backend.plan(job), "unsloth")
handle = backend.train(record)
progress = [e for e in record.events() if isinstance(e, Progress)]
print("RESULT " + json.dumps({"kind": handle.kind, "rewards": [p.rewards for p in progress]}))
"""


def test_grpo_glue_trains_on_the_engines_trl(
    unsloth_engine: Path, tiny_model_path: Path, tmp_path: Path
) -> None:
    (tmp_path / "engine_rewards.py").write_text(
        "def has_o(prompts, completions, **_):\n    return [float('o' in c) for c in completions]\n"
    )
    sources = [
        ROOT / "src",
        ROOT / "backends" / "trl" / "src",
        ROOT / "backends" / "unsloth" / "src",
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, [*sources, tmp_path]))}
    env.pop("TUNESDK_UNSLOTH_ASSUME_GPU", None)
    done = subprocess.run(
        [str(unsloth_engine), "-c", textwrap.dedent(SCRIPT), str(tiny_model_path), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    result = json.loads(lines[-1].removeprefix("RESULT "))
    assert result["kind"] == "adapter"
    assert len(result["rewards"]) == 2 and all(set(r) == {"has_o"} for r in result["rewards"])
    assert "training on CPU" in done.stdout + done.stderr  # real Unsloth, in its CPU mode
