"""tunesdk's trl backend computes exactly what a plain TRL script computes (benchmarks/trl_parity.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType


def test_same_losses_as_plain_trl(
    tiny_model_path: Path, tmp_path: Path, load_benchmark: Callable[[str], ModuleType]
) -> None:
    bench = load_benchmark("trl_parity")
    report = bench.compare(
        bench.make_job(tiny_model_path, examples=16, steps=4), tmp_path, repeats=1
    )
    assert report["steps"] == 4
    assert report["max_abs_loss_diff"] < 1e-6
