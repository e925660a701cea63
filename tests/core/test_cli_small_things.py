"""Small things a user notices: flags in help, `resume` of a finished run, quiet model loading,
errors that name the unreachable URL and the dead worker's log."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

import tunesdk as ts

TUNESDK = Path(sys.executable).with_name("tunesdk")


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TUNESDK), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.fixture
def job_file(job_yaml: Callable[..., Path]) -> Path:
    return job_yaml(steps=6)


# ---- help -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", ["run", "resume", "logs", "plan", "validate", "stats", "convert"]
)
def test_help_shows_flags_as_flags(command: str) -> None:
    proc = cli(command, "--help")
    assert proc.returncode == 0
    assert "<bool>" not in proc.stdout and "<list[str]>" not in proc.stdout
    if command in ("run", "plan"):
        assert "KEY=VALUE" in proc.stdout  # what --set takes


# ---- resume -----------------------------------------------------------------------------------


def run_folders() -> set[str]:
    runs = Path(os.environ["TUNESDK_HOME"]) / "runs"
    return {p.name for p in runs.iterdir() if (p / "state.json").exists()}


def test_resume_of_a_completed_run_says_so_and_starts_nothing(make_job) -> None:
    done = make_job().run(backend="simulated", progress=False)
    before = run_folders()
    proc = cli("resume", done.run_id)
    assert proc.returncode == 0, proc.stderr
    assert f"run {done.run_id} already completed" in proc.stderr
    assert "nothing to resume" in proc.stderr and done.model is not None
    assert done.model.to_uri() in proc.stderr
    assert run_folders() == before  # no duplicate run

    as_json = cli("resume", done.run_id, "--json")
    assert isinstance(ts.parse_event(as_json.stdout.strip()), ts.Completed)


def cancelled_with_checkpoint(make_job) -> ts.Run:
    job = make_job(max_steps=40, backend_options={"simulated": {"step_seconds": 0.05}})
    run = ts.Run.submit(job, "simulated")
    for event in run.events():
        if isinstance(event, ts.Progress) and event.step >= 3:
            break
    run.cancel()
    final = run.record.events()[-1]
    assert isinstance(final, ts.Cancelled) and final.checkpoint
    return run


def test_resume_takes_json_and_detach(make_job) -> None:
    old = cancelled_with_checkpoint(make_job)
    proc = cli("resume", old.run_id, "--detach")
    assert proc.returncode == 0, proc.stderr
    new_id = proc.stdout.strip()
    assert new_id and new_id != old.run_id and f"tunesdk logs -f {new_id}" in proc.stderr
    new = ts.Run.attach(new_id)
    new.cancel()

    proc = cli("resume", old.run_id, "--json")
    assert proc.returncode in (0, 1), proc.stderr
    events = [ts.parse_event(line) for line in proc.stdout.splitlines()]
    assert events and all(e.run_id == events[0].run_id for e in events)
    assert any(isinstance(e, ts.Log) and "resuming from checkpoint" in e.message for e in events)


def test_resume_of_a_live_run_is_refused(make_job) -> None:
    job = make_job(max_steps=2000, backend_options={"simulated": {"step_seconds": 0.05}})
    run = ts.Run.submit(job, "simulated")
    try:
        proc = cli("resume", run.run_id)
        assert proc.returncode == 2
        assert f"run {run.run_id} is still" in proc.stderr and "tunesdk logs -f" in proc.stderr
    finally:
        run.cancel()


# ---- a dead worker ----------------------------------------------------------------------------


def test_a_dead_worker_points_at_its_worker_log(tmp_path: Path, data_file: Path) -> None:
    job = tmp_path / "crash.yaml"
    job.write_text(
        f"model: tiny/model\ndata: {data_file}\nmax_steps: 6\n"
        "backend_options:\n  simulated:\n    step_seconds: 0.001\n    crash_at_step: 2\n"
    )
    proc = cli("run", str(job), "-b", "simulated")
    assert proc.returncode == 1
    run_id = proc.stderr.split()[1]
    log = ts.Run.attach(run_id).record.worker_log
    assert "exited with code 137" in proc.stderr and str(log) in proc.stderr
    status = cli("status", run_id)
    assert f"details: {log}" in status.stdout


# ---- an unreachable provider ------------------------------------------------------------------


def test_an_unreachable_base_url_is_named_without_credentials() -> None:
    import httpx
    import openai

    from tunesdk.registry import get_backend

    request = httpx.Request("POST", "http://user:secret@127.0.0.1:9/v1/files?api-key=k")
    exc = openai.APIConnectionError(request=request)
    error = get_backend("openai").to_provider_error(exc)  # type: ignore[attr-defined]
    assert "could not reach openai at http://127.0.0.1:9/v1/files" in error.message
    assert "secret" not in str(error) and "api-key" not in str(error)

    raw = httpx.ConnectError("[Errno 111] Connection refused", request=request)
    assert (
        "at http://127.0.0.1:9/v1/files" in get_backend("together").to_provider_error(raw).message
    )  # type: ignore[attr-defined]


# ---- quiet model loading ----------------------------------------------------------------------


def test_tiny_model_and_chat_print_no_loading_bars_or_warnings(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("transformers")
    pytest.importorskip("tunesdk_trl")
    from tunesdk.testing import tiny_model

    path = tiny_model(tmp_path / "tiny")
    model = ts.LocalModel(path=str(path), base_model=str(path), kind="full", engine="trl")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reply = model.chat([{"role": "user", "content": "hi"}], max_new_tokens=3)
    assert isinstance(reply, str)
    captured = capfd.readouterr()
    for noise in ("Loading weights", "Writing model shards", "it/s", "Warning"):
        assert noise not in captured.out + captured.err
    assert not [w for w in caught if issubclass(w.category, FutureWarning | DeprecationWarning)]


# ---- tunesdk backends -------------------------------------------------------------------------


def test_a_backend_whose_check_crashes_is_listed_not_usable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tunesdk import registry
    from tunesdk.simulated import SimulatedBackend

    class Broken(SimulatedBackend):
        name = "broken"

        def check(self) -> ts.Check:
            raise RuntimeError("no such device")

    monkeypatch.setitem(registry._registered, "broken", Broken)
    monkeypatch.delitem(registry._instances, "broken", raising=False)
    rows = {info.name: info for info in registry.backends()}
    assert not rows["broken"].usable
    assert rows["broken"].reason == "its check failed: RuntimeError: no such device"
    assert rows["simulated"].usable
    registry._instances.pop("broken", None)


# ---- fixes in the CLI's words ------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["together", "fireworks"])
def test_a_missing_key_names_the_variable_and_no_python(
    backend: str, job_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip(f"tunesdk_{backend}")
    for name in list(os.environ):
        if name.startswith(backend.upper()):
            monkeypatch.delenv(name)
    proc = cli("run", str(job_file), "--backend", backend)
    assert proc.returncode == 3, proc.stderr
    assert f"{backend.upper()}_API_KEY" in proc.stderr
    assert "={" not in proc.stderr and f"backend_options.{backend}.api_key" in proc.stderr
