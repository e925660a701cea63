"""Identifiers and files from outside: run ids follow the store's grammar and never leave the store."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk.errors import AmbiguousRunId, RunNotFound, TuneError
from tunesdk.store import RunRecord, RunStore
from tunesdk.store.ids import is_id_prefix, is_run_id, new_run_id

Invoke = Callable[..., tuple[int, str, str]]  # the `invoke` fixture (tests/conftest.py)


@pytest.fixture
def record(make_job: Callable[..., ts.Job]) -> RunRecord:
    job = make_job()
    return RunStore().create(job, job.plan("simulated"), "simulated")


@pytest.fixture
def victim(tmp_path: Path, tunesdk_home: Path) -> Path:
    """A run-shaped folder outside the store, at ../../outside/victim from the runs folder."""
    folder = tunesdk_home / "runs" / ".." / ".." / "outside" / "victim"
    folder = folder.resolve()
    folder.mkdir(parents=True)
    state = {
        "run_id": "victim",
        "backend": "simulated",
        "status": "running",
        "created_at": "2026-01-01T00:00:00.000+00:00",
        "last_seq": 0,
        "source_ids": [],
        "events_size": 0,
        "backend_state": {},
    }
    (folder / "state.json").write_text(json.dumps(state))
    (folder / "events.jsonl").write_text("")
    return folder


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def hostile_ids(victim: Path) -> list[str]:
    return [
        "/etc",
        "../../outside/victim",
        str(victim),
        "**",
        "*",
        "simulated-*",
        "simulated-2026[0-9]",
        "simulated-?",
        "a" * 5000,
        "",
        ".",
        "..",
        "x/../y",
        "sim\x00ulated",
        "-rf",
    ]


@pytest.mark.usefixtures("record")
def test_hostile_ids_are_run_not_found_in_the_api(victim: Path) -> None:
    before = _files(victim)
    for bad in hostile_ids(victim):
        with pytest.raises(RunNotFound) as info:
            RunStore().get(bad)
        assert len(str(info.value)) < 400, bad[:20]
        with pytest.raises(RunNotFound):
            ts.Run.attach(bad)
    assert _files(victim) == before  # nothing read or written there: no .lock, no events


@pytest.mark.usefixtures("record")
@pytest.mark.parametrize("command", ["status", "logs", "cancel"])
def test_hostile_ids_are_run_not_found_in_the_cli(
    command: str, victim: Path, invoke: Invoke
) -> None:
    before = _files(victim)
    for bad in hostile_ids(victim):
        if bad.startswith("-"):
            continue  # an option to the CLI, not an id
        code, out, err = invoke([command, bad])
        assert code == 2, (command, bad[:40], out, err)
        assert err.startswith("error: no run "), err[:200]
        assert "Traceback" not in err and len(err) < 500
    assert _files(victim) == before
    assert not (victim / ".lock").exists() and not (victim / ".poll.lock").exists()


def test_glob_characters_in_a_prefix_are_literal(make_job: Callable[..., ts.Job]) -> None:
    job = make_job()
    first = RunStore().create(job, job.plan("simulated"), "simulated")
    for pattern in ("simulated*", "simulated-*", "s*", "*", "simulated-20??", "[s]imulated"):
        with pytest.raises(RunNotFound):
            RunStore().get(pattern)
    assert RunStore().get(first.run_id[:-2]).run_id == first.run_id


def test_an_ambiguous_prefix_lists_the_matches(make_job: Callable[..., ts.Job]) -> None:
    job = make_job()
    ids = {RunStore().create(job, job.plan("simulated"), "simulated").run_id for _ in range(3)}
    with pytest.raises(AmbiguousRunId) as info:
        RunStore().get("simulated-")
    assert set(info.value.matches) == ids
    assert all(run_id in str(info.value) for run_id in ids)
    assert isinstance(info.value, RunNotFound)  # callers that catch RunNotFound still do


def test_a_link_in_the_store_pointing_outside_is_not_a_run(record: RunRecord, victim: Path) -> None:
    link = record.dir.parent / "simulated-20260101-000000-abcdef"
    os.symlink(victim, link)
    with pytest.raises(RunNotFound):
        RunStore().get(link.name)
    assert link.name not in {row.run_id for row in RunStore().query().runs}


def test_new_ids_follow_the_grammar_whatever_the_backend_name() -> None:
    for backend in ("trl", "my.backend", "../evil", "/abs", "a b", "", "é", "-x", "x" * 300):
        run_id = new_run_id(backend)
        assert is_run_id(run_id), (backend, run_id)
        assert "/" not in run_id and ".." not in run_id
    assert not is_id_prefix("a" * 5000)
    assert not is_id_prefix("../x") and not is_id_prefix("/etc") and not is_id_prefix("**")


def test_load_model_with_a_5000_character_path_is_a_clear_error() -> None:
    for uri in ("local:" + "a" * 5000, "local:" + "/a" * 2500):
        with pytest.raises(TuneError) as info:
            ts.load_model(uri)
        assert "no model at" in str(info.value) and len(str(info.value)) < 400


def test_tunesdk_home_pointing_at_a_file_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, invoke: Invoke
) -> None:
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    monkeypatch.setenv("TUNESDK_HOME", str(a_file))
    with pytest.raises(TuneError, match="is a file, not a folder") as info:
        RunStore()
    assert "TUNESDK_HOME" in str(info.value)
    for args in (["runs"], ["status", "simulated-1"]):
        code, out, err = invoke(args)
        assert code == 2, (args, out, err)
        assert "is a file, not a folder" in err and "Traceback" not in err
