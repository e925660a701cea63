"""plot_loss writes a PNG from any run's events; Result.plot_loss delegates to it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk.errors import TuneError
from tunesdk.evaluation import plot_loss

from .test_monitor import overfitting_curve

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_plot_with_overfitting_marked(tmp_path: Path) -> None:
    path = plot_loss(overfitting_curve(), tmp_path / "plots" / "loss.png", title="overfit demo")
    assert path == tmp_path / "plots" / "loss.png"
    assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 10_000


def test_plot_of_train_loss_only(tmp_path: Path) -> None:
    events = [ts.Progress(step=s, train_loss=1.0 / s) for s in range(1, 30)]
    assert plot_loss(events, tmp_path / "train.png").read_bytes()[:8] == PNG_MAGIC


def test_nothing_to_plot_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TuneError, match="no train or eval loss"):
        plot_loss([ts.Log(message="hello")], tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_result_plot_loss_from_a_simulated_run(tmp_path: Path) -> None:
    rows = [{"prompt": f"q{i}", "completion": f"a{i}"} for i in range(16)]
    job = ts.Job(model="tiny/model", data=rows, eval_split=0.25, max_steps=12, eval_steps=3)
    result = job.run(backend="simulated", progress=False)
    path = result.plot_loss(tmp_path / "sim.png")
    assert path.read_bytes()[:8] == PNG_MAGIC
    # the simulated eval curve tracks the train curve: no false overfitting alarm
    assert ts.detect_overfitting(result.events()) is None
    logs = [json.loads(line) for line in result.events_path.read_text().splitlines()]
    assert not any(e["type"] == "log" and e.get("level") == "warning" for e in logs)
