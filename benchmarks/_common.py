"""What the benchmarks share: timing two sides alternately and reporting their wall-time ratio,
tunesdk's own training timed in this process, ``job.run()`` timed around it, medians of repeated
calls, and a run store holding one finished simulated run.

A benchmark imports this with ``from _common import ...``: its folder is first on ``sys.path``
when it runs as a script; one that tests load by file path (tests/trl/test_parity.py loads
trl_parity.py) puts it there first.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: one side of a parity benchmark: (per-step values, wall seconds) for a run in this folder
Side = Callable[[Path], tuple[list[float], float]]


def alternate(
    plain: Side, ours: Side, root: Path, repeats: int
) -> tuple[list[float], list[float], float, float]:
    """Run both sides ``repeats`` times, alternating, so background load and the first run's
    imports hit both alike: (plain values, our values, fastest plain wall, fastest our wall),
    the values from the last run of each."""
    plain_walls, our_walls = [], []
    plain_values: list[float] = []
    our_values: list[float] = []
    for index in range(repeats):
        plain_values, wall = plain(root / f"plain-{index}")
        plain_walls.append(wall)
        our_values, wall = ours(root / f"home-{index}")
        our_walls.append(wall)
    return plain_values, our_values, min(plain_walls), min(our_walls)


def wall_report(plain_wall: float, our_wall: float, *, plain_key: str) -> dict[str, float]:
    """The report's wall-time rows: both sides' fastest seconds and tunesdk's ratio to plain."""
    return {
        "tunesdk_wall_s": round(our_wall, 3),
        plain_key: round(plain_wall, 3),
        "wall_ratio": round(our_wall / plain_wall, 3),
    }


def plain_training_args(job: Any, output_dir: Path) -> dict[str, Any]:
    """The training arguments every plain script (TRL's ``SFTConfig``/``GRPOConfig``) sets
    from the job the same way: steps, learning rate, batch, warmup, seeds, a log line per step,
    and no intermediate checkpoints (the tunesdk side turns its own off through
    ``backend_options``: checkpoint writes measure this machine's disk, not the training loop)."""
    return {
        "output_dir": str(output_dir),
        "max_steps": job.max_steps or -1,
        "learning_rate": job.effective_learning_rate,
        "per_device_train_batch_size": job.batch_size,
        "warmup_steps": job.warmup_ratio,
        "seed": job.seed,
        "data_seed": job.seed,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "disable_tqdm": True,
    }


def loss_recorder() -> tuple[Any, list[float]]:
    """A transformers ``TrainerCallback`` that keeps every logged training loss, and the list
    it fills (for a plain script's trainer: ``callbacks=[recorder]``)."""
    from transformers import TrainerCallback

    losses: list[float] = []

    class Losses(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))

    return Losses(), losses


def train_in_process(
    backend: Any, job: Any, home: Path, values: Callable[[list[Any]], list[float]]
) -> tuple[list[float], float]:
    """``backend.train`` on a new run of ``job`` in store ``home``, in this process (no worker):
    ``values`` of its events and the seconds the training took."""
    from tunesdk.store import RunStore

    record = RunStore(home).create(job, backend.plan(job), backend.name)
    start = time.perf_counter()
    backend.train(record)
    wall = time.perf_counter() - start
    return values(record.events()), wall


def run_through_worker(job: Any, backend: str, home: Path) -> float:
    """Seconds for ``job.run(backend)`` end to end: plan, preflight, worker process start (Python
    and the engine's imports), training, result."""
    os.environ["TUNESDK_HOME"] = str(home)
    start = time.perf_counter()
    job.run(backend=backend, progress=False)
    return time.perf_counter() - start


def median_seconds(call: Callable[[], object], repeat: int, *, warmup: int = 0) -> float:
    """The median wall time of ``repeat`` calls of ``call``, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_store_with_one_run(folder: Path, *, steps: int = 8) -> tuple[dict[str, str], str]:
    """A chat data file, a job file and a run store in ``folder`` holding one completed
    ``simulated`` run (train and eval loss): the environment that points at it, and the run id."""
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"{i} + {i}?"},
                {"role": "assistant", "content": str(2 * i)},
            ]
        }
        for i in range(64)
    ]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "job.yaml").write_text(
        f"model: Qwen/Qwen2.5-0.5B-Instruct\ndata: train.jsonl\nmax_steps: {steps}\n"
        "eval_split: 0.25\nbackend_options:\n  simulated:\n    step_seconds: 0.001\n"
    )
    env = {**os.environ, "TUNESDK_HOME": str(folder / "home"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "tunesdk", "run", "job.yaml", "-b", "simulated", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=folder,
        check=True,
    )
    return env, json.loads(proc.stdout.splitlines()[0])["run_id"]
