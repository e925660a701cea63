from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

FAKE_AXOLOTL = Path(__file__).parent / "fake_axolotl" / "axolotl"


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TUNESDK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TUNESDK_AXOLOTL_COMMAND", raising=False)


@pytest.fixture
def fake_axolotl(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the backend at the fake ``axolotl`` command (the engine swapped at the process
    boundary)."""
    monkeypatch.setenv("TUNESDK_AXOLOTL_COMMAND", shlex.join([sys.executable, str(FAKE_AXOLOTL)]))
    return FAKE_AXOLOTL
