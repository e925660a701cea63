from __future__ import annotations

import os
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


#: where scripts/setup.sh builds the engine environments (read before any test changes the env)
ENGINES_DIR = Path(
    os.environ.get("TUNESDK_ENGINES_DIR")
    or Path(os.environ.get("TUNESDK_HOME") or "~/.tunesdk").expanduser() / "engines"
)


@pytest.fixture
def axolotl_engine(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The real axolotl engine environment that scripts/setup.sh builds, made the one tunesdk
    uses; the test is skipped (saying how to build it) when it is absent."""
    from tunesdk import engines

    monkeypatch.setenv("TUNESDK_ENGINES_DIR", str(ENGINES_DIR))
    monkeypatch.delenv(engines.spec("axolotl").python_env, raising=False)
    found = engines.find_managed("axolotl")
    if found is None:
        pytest.skip(
            f"no axolotl engine environment in {ENGINES_DIR}: build it with `bash scripts/setup.sh` "
            "or `tunesdk engine install axolotl`"
        )
    if not found.current:
        pytest.skip(f"the axolotl engine in {ENGINES_DIR} predates its lock file: rerun setup")
    return found.python


@pytest.fixture
def axolotl_python() -> str:
    """An interpreter with Axolotl: $TUNESDK_TEST_AXOLOTL_PYTHON, this one when axolotl is
    importable here, else the engine environment scripts/setup.sh builds; skipped otherwise."""
    import importlib.util

    given = os.environ.get("TUNESDK_TEST_AXOLOTL_PYTHON")
    if given:
        return given
    if importlib.util.find_spec("axolotl") is not None:
        return sys.executable
    python = ENGINES_DIR / "axolotl" / "bin" / "python"
    if (ENGINES_DIR / "axolotl" / "tunesdk-engine.json").exists() and python.exists():
        return str(python)
    pytest.skip(
        f"no interpreter with axolotl: no engine environment in {ENGINES_DIR} (build it with "
        "`bash scripts/setup.sh` or `tunesdk engine install axolotl`)"
    )
