"""Shared fixtures: an isolated run store, fast polling, a tiny chat dataset and job files (the
CLI in-process, ``invoke``, comes from tests/conftest.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import tunesdk as ts

CHAT_ROWS = [
    {
        "messages": [
            {"role": "user", "content": f"What is {i} + {i}?"},
            {"role": "assistant", "content": str(2 * i)},
        ]
    }
    for i in range(16)
]


@pytest.fixture(autouse=True)
def tunesdk_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own run store and polls fast (worker processes inherit both)."""
    home = tmp_path / "home"
    monkeypatch.setenv("TUNESDK_HOME", str(home))
    monkeypatch.setenv("TUNESDK_POLL_INTERVAL", "0.05")
    return home


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in CHAT_ROWS), encoding="utf-8")
    return path


@pytest.fixture
def make_job(data_file: Path) -> Callable[..., ts.Job]:
    """A small valid job on the simulated backend; keyword arguments override fields."""

    def make(**overrides: Any) -> ts.Job:
        fields: dict[str, Any] = {"model": "tiny/model", "data": str(data_file), "max_steps": 6}
        fields.update(overrides)
        return ts.Job(**fields)

    return make


@pytest.fixture
def job_yaml(tmp_path: Path, data_file: Path) -> Callable[..., Path]:
    """Writes ``tmp_path/job.yaml``: the tiny chat data, ``steps`` steps of ``step_seconds`` on
    the simulated backend, and ``eval_split`` when given."""

    def write(steps: int, *, step_seconds: float = 0.001, eval_split: float | None = None) -> Path:
        path = tmp_path / "job.yaml"
        split = f"eval_split: {eval_split}\n" if eval_split is not None else ""
        path.write_text(
            f"model: tiny/model\ndata: {data_file}\nmax_steps: {steps}\n{split}"
            f"backend_options:\n  simulated:\n    step_seconds: {step_seconds}\n"
        )
        return path

    return write
