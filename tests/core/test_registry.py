"""Backend discovery through entry points, known-but-missing backends, unknown names."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

import tunesdk as ts
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


def test_backends_lists_known_missing_backends_with_install_fix() -> None:
    info = {b.name: b for b in ts.backends()}
    for name in ("unsloth", "axolotl"):
        assert name in info
        assert not info[name].installed and not info[name].usable
        assert info[name].fix == f"pip install tunesdk-{name}"


def test_known_but_missing_backend_raises_with_install_fix() -> None:
    with pytest.raises(BackendUnavailable) as info:
        ts.get_backend("unsloth")
    assert info.value.backend == "unsloth"
    assert info.value.fix == "pip install tunesdk-unsloth"


def test_unknown_backend_raises_listing_installed_ones() -> None:
    with pytest.raises(BackendUnavailable) as info:
        ts.get_backend("no-such-engine")
    assert "no-such-engine" in str(info.value)
    assert "simulated" in info.value.reason
