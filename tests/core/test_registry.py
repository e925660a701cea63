"""Backend discovery through entry points, known-but-missing backends, unknown names."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk import registry
from tunesdk.errors import BackendUnavailable
from tunesdk.simulated import SimulatedBackend


def test_simulated_is_registered_as_an_entry_point() -> None:
    names = {ep.name: ep.value for ep in entry_points(group="tunesdk.backends")}
    assert names.get("simulated") == "tunesdk.simulated:SimulatedBackend"


def test_get_backend_loads_the_entry_point() -> None:
    backend = ts.get_backend("simulated")
    assert isinstance(backend, SimulatedBackend)
    assert backend.kind == "local"
    assert ts.get_backend("simulated") is backend


def test_backends_lists_simulated_as_usable() -> None:
    info = {b.name: b for b in ts.backends()}["simulated"]
    assert info.installed and info.usable
    assert info.distribution == "tunesdk"


@pytest.fixture
def known_missing(monkeypatch: pytest.MonkeyPatch) -> str:
    """A backend tunesdk knows by name whose package is not installed (every real one may be)."""
    monkeypatch.setitem(registry.KNOWN_BACKENDS, "ghost", ("tunesdk-ghost", "local"))
    return "ghost"


def test_backends_lists_known_missing_backends_with_install_fix(known_missing: str) -> None:
    info = {b.name: b for b in ts.backends()}
    assert known_missing in info
    assert not info[known_missing].installed and not info[known_missing].usable
    assert info[known_missing].fix == "pip install tunesdk-ghost"


def test_known_but_missing_backend_raises_with_install_fix(known_missing: str) -> None:
    with pytest.raises(BackendUnavailable) as info:
        ts.get_backend(known_missing)
    assert info.value.backend == "ghost"
    assert info.value.fix == "pip install tunesdk-ghost"


def test_unknown_backend_raises_listing_installed_ones() -> None:
    with pytest.raises(BackendUnavailable) as info:
        ts.get_backend("no-such-engine")
    assert "no-such-engine" in str(info.value)
    assert "simulated" in info.value.reason


def test_registered_local_backend_runs_in_the_worker_and_reattaches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_job: Callable[..., ts.Job]
) -> None:
    """A backend registered at run time (not an entry point) is importable by the worker process
    and by Run.attach, through the class path recorded in the run state."""
    package = tmp_path / "plugins" / "myplugins"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "engine.py").write_text(
        "from tunesdk.simulated import SimulatedBackend\n\n\n"
        "class MineBackend(SimulatedBackend):\n    name = 'mine'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "plugins"))
    from myplugins.engine import MineBackend  # type: ignore[import-not-found]

    ts.register_backend("mine", MineBackend)
    try:
        result = make_job().run("mine", progress=False)
        assert result.status == "completed" and result.backend == "mine"
        registry._registered.pop("mine")
        registry._instances.pop("mine", None)
        again = ts.Run.attach(result.run_id)
        assert type(again.backend).__name__ == "MineBackend"
    finally:
        registry._registered.pop("mine", None)
        registry._instances.pop("mine", None)


def test_local_backend_defined_in_main_is_refused_before_launch(
    monkeypatch: pytest.MonkeyPatch, make_job: Callable[..., ts.Job]
) -> None:
    class ScriptBackend(SimulatedBackend):
        name = "script"

    monkeypatch.setattr(ScriptBackend, "__module__", "__main__")
    ts.register_backend("script", ScriptBackend)
    try:
        with pytest.raises(ts.TuneError, match="worker process that trains cannot import it"):
            make_job().submit("script")
    finally:
        registry._registered.pop("script", None)
        registry._instances.pop("script", None)
