"""register_backend refuses a taken name and a name that is not the class's own; entry points
are read once per process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import tunesdk as ts
from tunesdk import registry
from tunesdk.simulated import SimulatedBackend


class Alpha(SimulatedBackend):
    name = "alpha-test"


class OtherAlpha(SimulatedBackend):
    name = "alpha-test"


@pytest.fixture(autouse=True)
def clean_registry() -> Iterator[None]:
    yield
    for name in ("alpha-test", "simulated"):
        registry._registered.pop(name, None)
        registry._instances.pop(name, None)


def test_a_taken_name_is_refused_naming_the_holder_and_the_fix() -> None:
    ts.register_backend("alpha-test", Alpha)
    first = ts.get_backend("alpha-test")
    with pytest.raises(ts.TuneError) as info:
        ts.register_backend("alpha-test", OtherAlpha)
    assert "backend name 'alpha-test' is taken by" in str(info.value)
    assert "test_register_backend:Alpha" in str(info.value)
    assert "clobber=True" in (info.value.fix or "")
    assert ts.get_backend("alpha-test") is first  # nothing replaced


def test_registering_the_same_class_again_is_a_no_op() -> None:
    ts.register_backend("alpha-test", Alpha)
    first = ts.get_backend("alpha-test")
    ts.register_backend("alpha-test", Alpha)
    assert ts.get_backend("alpha-test") is first


def test_clobber_replaces_a_taken_name() -> None:
    ts.register_backend("alpha-test", Alpha)
    ts.get_backend("alpha-test")
    ts.register_backend("alpha-test", OtherAlpha, clobber=True)
    assert type(ts.get_backend("alpha-test")) is OtherAlpha


def test_an_installed_entry_point_name_is_taken_too() -> None:
    class Impostor(SimulatedBackend):
        name = "simulated"

    with pytest.raises(ts.TuneError, match=r"taken by the installed backend tunesdk\.simulated"):
        ts.register_backend("simulated", Impostor)
    ts.register_backend("simulated", SimulatedBackend)  # the installed class itself: fine
    assert type(ts.get_backend("simulated")) is SimulatedBackend


def test_a_name_other_than_the_classs_own_is_refused() -> None:
    with pytest.raises(ts.TuneError) as info:
        ts.register_backend("beta-test", Alpha)
    assert "its name is 'alpha-test'" in str(info.value)
    assert "name = 'beta-test'" in (info.value.fix or "")
    assert "beta-test" not in registry.installed_names()


def test_entry_points_are_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = registry.entry_points

    def counting(**kwargs: str) -> object:
        calls.append(kwargs["group"])
        return real(**kwargs)

    registry.refresh()
    monkeypatch.setattr(registry, "entry_points", counting)
    for _ in range(3):
        ts.backends()
        registry.installed_names()
        ts.get_backend("simulated")
    assert calls == ["tunesdk.backends"]
    registry.refresh()
    registry.installed_names()
    assert len(calls) == 2
