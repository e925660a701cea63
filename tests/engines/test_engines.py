"""Engine environments: which interpreter trains, the lock files, the linked tunesdk, the CLI."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunesdk import engines
from tunesdk.cli import app
from tunesdk.errors import BackendUnavailable, TuneError


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TUNESDK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(engines.ROOT_ENV, raising=False)
    for spec in engines.ENGINES.values():
        monkeypatch.delenv(spec.python_env, raising=False)


def _fake_managed(name: str, *, lock_sha: str | None = None) -> Path:
    """A managed environment as `install` leaves it: bin/python (this interpreter) + marker."""
    folder = engines.engine_dir(name)
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "python").symlink_to(sys.executable)
    marker = {
        "name": name,
        "lock_sha256": lock_sha or engines.lock_digest(name),
        "versions": {"torch": "2.13.0", name: "1.0"},
    }
    (folder / engines.MARKER).write_text(json.dumps(marker))
    return folder


def test_every_engine_has_an_exact_lock_with_torch_pinned() -> None:
    for name in engines.ENGINES:
        lines = engines.read_lock(name)
        assert lines and all("==" in line and " " not in line for line in lines), name
        if name != "skypilot":  # the SkyPilot client's environment has no torch
            assert "torch==2.13.0" in lines, name  # no local label: the same pin on GPU machines
        assert not any(line.startswith(("tunesdk", "-e")) for line in lines), name
    unsloth = {line.split("==")[0] for line in engines.read_lock("unsloth")}
    assert "unsloth" in unsloth and "torchvision" not in unsloth
    assert "axolotl==0.19.0" in engines.read_lock("axolotl")


def test_nothing_installed_means_the_callers_interpreter() -> None:
    assert engines.find("unsloth") is None
    assert engines.worker_python("unsloth") is None
    assert engines.worker_python("simulated") is None  # not an engine backend


def test_the_managed_environment_is_found_and_its_lock_compared(tmp_path: Path) -> None:
    _fake_managed("unsloth")
    found = engines.find("unsloth")
    assert found is not None and found.source == "managed" and found.current
    assert found.python == tmp_path / "home" / "engines" / "unsloth" / "bin" / "python"
    assert engines.worker_python("unsloth") == str(found.python)
    assert "unsloth engine (managed)" in found.describe() and "torch 2.13.0" in found.describe()


def test_an_environment_from_an_older_lock_is_unhealthy_and_says_the_fix() -> None:
    _fake_managed("trl", lock_sha=hashlib.sha256(b"old").hexdigest())
    found = engines.find("trl")
    assert found is not None and found.current is False
    assert "tunesdk engine install trl" in found.describe()
    health = engines.health(found)
    assert not health.ok and "tunesdk engine install trl" in health.detail


def test_the_interpreter_variable_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_managed("unsloth")
    monkeypatch.setenv("TUNESDK_UNSLOTH_PYTHON", sys.executable)
    found = engines.find("unsloth")
    assert found is not None and found.source == "env" and str(found.python) == sys.executable
    assert "pydantic" not in found.versions and "torch" in found.versions  # read from it


def test_an_interpreter_variable_naming_nothing_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TUNESDK_AXOLOTL_PYTHON", "/no/such/python")
    with pytest.raises(BackendUnavailable, match=r"\$TUNESDK_AXOLOTL_PYTHON names /no/such/python"):
        engines.find("axolotl")


def test_an_unknown_engine_lists_the_known_ones() -> None:
    with pytest.raises(TuneError, match="unsloth, axolotl, trl"):
        engines.install("vllm")


def test_the_axolotl_engine_refuses_a_python_other_than_3_11(tmp_path: Path) -> None:
    fake = tmp_path / "python3.12"
    fake.write_text("#!/bin/sh\necho 3.12\n")
    fake.chmod(0o755)
    with pytest.raises(TuneError, match=r"needs Python 3\.11; .* is Python 3\.12"):
        engines.install("axolotl", python=str(fake))
    assert not engines.engine_dir("axolotl").exists()


def test_an_unchanged_lock_is_not_installed_again(capsys: pytest.CaptureFixture[str]) -> None:
    folder = _fake_managed("unsloth")
    before = (folder / engines.MARKER).read_text()
    engines.install("unsloth", python="/no/such/python")  # would fail if it tried to build
    assert "up to date" in capsys.readouterr().out
    assert (folder / engines.MARKER).read_text() == before


def test_linked_tunesdk_carries_its_version_and_entry_points(tmp_path: Path) -> None:
    folder = engines.link_tunesdk("unsloth", tmp_path / "link")
    assert (folder / "tunesdk").is_symlink() and (folder / "tunesdk_unsloth").is_symlink()
    assert (folder / "tunesdk" / "engines.py").exists()
    found = {d.metadata["Name"]: d for d in importlib.metadata.distributions(path=[str(folder)])}
    assert set(found) == {"tunesdk", "tunesdk-trl", "tunesdk-unsloth"}
    assert found["tunesdk"].version == importlib.metadata.version("tunesdk")
    names = {ep.name for ep in found["tunesdk-unsloth"].entry_points}
    assert names == {"unsloth"}
    # linking again (a resumed run) replaces the links
    assert engines.link_tunesdk("unsloth", tmp_path / "link") == folder


def test_the_worker_environment_puts_the_callers_tunesdk_first(tmp_path: Path) -> None:
    env = engines.worker_environment("trl", {"PYTHONPATH": "/x"}, tmp_path / "link")
    assert env["PYTHONPATH"].split(os.pathsep) == [str(tmp_path / "link"), "/x"]
    code = "import tunesdk, tunesdk_trl; print(tunesdk.__file__)"
    done = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(str(tmp_path / "link"))


def test_engine_list_shows_each_engine_with_versions_or_the_install_command() -> None:
    _fake_managed("unsloth")
    result = CliRunner().invoke(app, ["engine", "list"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    lines = {line.split()[1]: line for line in result.output.splitlines() if "│" in line[:3]}
    assert "torch 2.13.0" in lines["unsloth"]
    # the stand-in environment is this interpreter, which has no unsloth: the health says so
    assert "unhealthy: missing: unsloth" in lines["unsloth"]
    assert "tunesdk engine install axolotl" in lines["axolotl"]
    assert "tunesdk engine install trl" in lines["trl"]


def test_a_local_backends_worker_starts_in_its_engines_interpreter(tmp_path: Path) -> None:
    import tunesdk as ts
    from tunesdk.store import RunStore
    from tunesdk.testing import tiny_chat_data
    from tunesdk_trl import TRLBackend

    job = ts.Job(model="m", data=tiny_chat_data(4))
    backend = TRLBackend()
    record = RunStore(tmp_path / "store").create(job, backend.plan(job), "trl")
    assert backend.worker_command(record)[0] == sys.executable  # no engine: this interpreter
    assert "PYTHONPATH" not in backend.worker_env(record) or not (record.dir / "engine").exists()

    folder = _fake_managed("trl")
    python = str(folder / "bin" / "python")
    assert backend.worker_command(record)[:3] == [python, "-m", "tunesdk.worker"]
    env = backend.worker_env(record)
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(record.dir / "engine")
    assert (record.dir / "engine" / "tunesdk_trl").is_symlink()
    assert any("trl engine (managed)" in note for note in backend.plan(job).notes)


def test_with_an_engine_the_callers_check_reads_the_engines_versions() -> None:
    from tunesdk_trl import TRLBackend

    _fake_managed("trl")
    check = TRLBackend().check()
    assert check.usable and check.versions == {"torch": "2.13.0", "trl": "1.0"}
