"""tunesdk's trl backend computes exactly what a plain TRL script computes (benchmarks/trl_parity.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "trl_parity.py"


def load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("trl_parity", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_same_losses_as_plain_trl(tiny_model_path: Path, tmp_path: Path) -> None:
    bench = load_benchmark()
    report = bench.compare(
        bench.make_job(tiny_model_path, examples=16, steps=4), tmp_path, repeats=1
    )
    assert report["steps"] == 4
    assert report["max_abs_loss_diff"] < 1e-6
