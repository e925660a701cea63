"""The worker in an engine environment: another interpreter, this checkout's tunesdk linked in.

The engine here is a stand-in virtualenv whose site-packages reach this environment's packages
(transformers, peft, trl) but not its tunesdk, so the run completes only if the worker imports
tunesdk through the links the caller puts in the run folder.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest

import tunesdk as ts
from tunesdk.events import Completed
from tunesdk.testing import tiny_job


def _stand_in_engine(root: Path) -> Path:
    """A virtualenv at ``root`` (bin/python + pyvenv.cfg) that sees this environment's
    site-packages as a plain path: its .pth files (the editable tunesdk) are not read."""
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True)
    base = Path(getattr(sys, "_base_executable", sys.executable)).resolve()
    (bin_dir / "python").symlink_to(base)
    (root / "pyvenv.cfg").write_text(
        f"home = {base.parent}\ninclude-system-site-packages = false\n"
    )
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = root / "lib" / version / "site-packages"
    site.mkdir(parents=True)
    (site / "caller.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return bin_dir / "python"


@pytest.mark.slow
def test_the_worker_trains_in_the_engines_interpreter_with_the_callers_tunesdk(
    fake_unsloth: Any, tiny_model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    python = _stand_in_engine(tmp_path / "engine")
    monkeypatch.setenv("TUNESDK_UNSLOTH_PYTHON", str(python))
    job = tiny_job(tiny_model_path, max_steps=2)
    plan = job.plan("unsloth")
    assert any(f"unsloth engine ($TUNESDK_UNSLOTH_PYTHON): {python}" in n for n in plan.notes)
    run = job.submit(backend="unsloth")
    run.wait(timeout=300)
    assert isinstance(run.record.events()[-1], Completed)
    (imported,) = fake_unsloth.calls("import")
    assert imported["executable"] == str(python)
    linked = run.record.dir / "engine"
    assert imported["tunesdk"] == str(linked / "tunesdk" / "__init__.py")
    assert (linked / "tunesdk").resolve() == Path(ts.__file__).parent.resolve()
