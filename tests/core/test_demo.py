"""`tunesdk demo`, the README's first command: a real local LoRA run, then the same job on the
Together emulator, both chatted with."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_trains_locally_then_on_the_emulator(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(HF_HUB_OFFLINE="1", TMPDIR=str(tmp_path), COLUMNS="80")  # a narrow pipe
    done = subprocess.run(
        [sys.executable, "-m", "tunesdk.cli", "demo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    local, remote = out.split("2. the same job on Together AI")
    assert re.search(r"^model: local:\S+$", local, re.M)  # whole, not wrapped at 80 columns
    assert re.search(r"^model: together:\S+$", remote, re.M)
    first, last = map(float, re.search(r"train loss ([\d.]+) → ([\d.]+)", local).groups())  # type: ignore[union-attr]
    assert last < first  # the tiny model really trained
    assert local.count("chat: ") == 1 and remote.count("chat: ") == 1
    assert "What does the owl say?" in remote  # the emulator's deployed model answered
    assert "Traceback" not in done.stderr
