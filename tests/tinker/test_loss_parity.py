"""The same tiny SFT job through ``tinker`` (offline server) and ``trl`` gives the same per-step
losses and gradient norms (benchmarks/tinker_parity.py explains what both sides share and the 1e-5 tolerance)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from tunesdk_tinker.emulator import TinkerServer


def test_per_step_losses_match_trl(
    tiny_model_path: Path,
    tinker_env: TinkerServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    load_benchmark: Callable[[str], ModuleType],
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    bench = load_benchmark("tinker_parity")
    assert tinker_env.settings.lora_alpha == bench.ALPHA  # the job's alpha is the server's
    report = bench.compare(bench.make_job(tiny_model_path, examples=8, steps=3), tmp_path)
    assert report["steps"] == 3
    assert report["trl"][0] != report["trl"][-1]  # it trained: the losses moved
    assert report["max_abs_loss_diff"] < 1e-5, report
    assert report["max_rel_grad_norm_diff"] < 1e-5, report  # the same gradients, step by step
