"""Ctrl-C on `tunesdk run`: the first cancels the run at once (also while its worker starts), a
second stops waiting; every time the command says what happened and the next command.

Each test runs the real CLI in a subprocess and sends it SIGINT, as a terminal's Ctrl-C does (the
worker lives in a session of its own, so only the CLI gets it).
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk import registry
from tunesdk.local import process_start_time

BACKENDS = '''
import time

from tunesdk.simulated import SimulatedBackend


class SlowStart(SimulatedBackend):
    """A worker that takes a minute to start, as importing torch and loading a model can."""

    name = "slowstart"

    def train(self, run):
        time.sleep(60)
        return super().train(run)


class SlowStop(SimulatedBackend):
    """Trains a step, then takes a minute before it notices a cancel."""

    name = "slowstop"
    cancel_grace_s = 120.0

    def train(self, run):
        from tunesdk.events import Progress

        run.emit(Progress(step=1, total_steps=100))
        time.sleep(60)
        return super().train(run)
'''

LAUNCH = """
import sys
sys.path.insert(0, {folder!r})
import ctc_backends
from tunesdk.registry import register_backend
register_backend("slowstart", ctc_backends.SlowStart)
register_backend("slowstop", ctc_backends.SlowStop)
from tunesdk.cli import main
sys.argv = ["tunesdk", *sys.argv[1:]]
main()
"""


@pytest.fixture
def tunesdk_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start ``tunesdk ARGS`` (with the two test backends registered) in a subprocess; the
    backends are registered in this process too (for ``Run.attach``) until the test ends."""
    (tmp_path / "ctc_backends.py").write_text(textwrap.dedent(BACKENDS))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "ctc_backends", raising=False)
    module = importlib.import_module("ctc_backends")
    for name, cls in (("slowstart", module.SlowStart), ("slowstop", module.SlowStop)):
        monkeypatch.setitem(registry._registered, name, cls)
        monkeypatch.delitem(registry._instances, name, raising=False)
    launcher = tmp_path / "launch.py"
    launcher.write_text(LAUNCH.format(folder=str(tmp_path)))
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, str(launcher), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for name in ("slowstart", "slowstop"):
        registry._instances.pop(name, None)
    sys.modules.pop("ctc_backends", None)


def job_file(tmp_path: Path, data_file: Path, backend: str, steps: int, seconds: float) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text(
        f"model: tiny/model\ndata: {data_file}\nmax_steps: {steps}\n"
        f"backend_options:\n  {backend}:\n    step_seconds: {seconds}\n"
    )
    return path


def wait_for(condition: Callable[[], object], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def only_run() -> ts.Run:
    home = Path(os.environ["TUNESDK_HOME"]) / "runs"

    def runs() -> list[Path]:
        return [f for f in home.iterdir() if (f / "state.json").exists()] if home.exists() else []

    wait_for(runs)
    (folder,) = runs()
    return ts.Run.attach(folder.name)


def worker_alive(run: ts.Run) -> bool:
    pid, start = run.record.state.get("worker_pid"), run.record.state.get("worker_start")
    return pid is not None and process_start_time(int(pid)) == start


def has_progress(run: ts.Run) -> bool:
    return any(isinstance(e, ts.Progress) for e in run.record.events())


def test_ctrl_c_during_worker_start_up_cancels_at_once(
    tmp_path: Path, data_file: Path, tunesdk_cli: Callable[..., subprocess.Popen[str]]
) -> None:
    job = job_file(tmp_path, data_file, "slowstart", steps=5, seconds=0.01)
    proc = tunesdk_cli("run", str(job), "-b", "slowstart")
    run = only_run()
    wait_for(lambda: run.record.status == "running")  # the worker is up, still "importing"
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)  # well before the worker's minute of start-up
    assert proc.returncode == 130, err
    assert f"Ctrl-C: cancelling run {run.run_id}" in err
    assert f"run {run.run_id} cancelled before it saved a checkpoint" in err
    assert f"start it again: tunesdk run {job} --backend slowstart" in err
    assert run.record.status == "cancelled"
    assert not has_progress(run)  # it did not train a step before stopping
    assert not worker_alive(run)
    assert "Traceback" not in err


def test_the_start_again_command_keeps_the_set_overrides(
    tmp_path: Path, data_file: Path, tunesdk_cli: Callable[..., subprocess.Popen[str]]
) -> None:
    job = job_file(tmp_path, data_file, "slowstart", steps=5, seconds=0.01)
    proc = tunesdk_cli(
        "run", str(job), "-b", "slowstart", "--set", "max_steps=4", "--set", "report_to=[]"
    )
    run = only_run()
    wait_for(lambda: run.record.status == "running")
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    hint = (
        f"start it again: tunesdk run {job} --backend slowstart --set max_steps=4 "
        "--set 'report_to=[]'"
    )
    assert hint in err


def test_ctrl_c_while_training_saves_a_checkpoint_and_says_how_to_resume(
    tmp_path: Path, data_file: Path, tunesdk_cli: Callable[..., subprocess.Popen[str]]
) -> None:
    job = job_file(tmp_path, data_file, "simulated", steps=2000, seconds=0.02)
    proc = tunesdk_cli("run", str(job), "-b", "simulated")
    run = only_run()
    wait_for(lambda: has_progress(run))
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    final = run.record.events()[-1]
    assert isinstance(final, ts.Cancelled) and final.checkpoint
    assert f"run {run.run_id} cancelled; last checkpoint: {final.checkpoint}" in err
    assert f"resume it: tunesdk resume {run.run_id}" in err


def test_a_second_ctrl_c_stops_waiting_and_says_how_to_follow(
    tmp_path: Path, data_file: Path, tunesdk_cli: Callable[..., subprocess.Popen[str]]
) -> None:
    job = job_file(tmp_path, data_file, "slowstop", steps=5, seconds=0.01)
    proc = tunesdk_cli("run", str(job), "-b", "slowstop")
    run = only_run()
    wait_for(lambda: has_progress(run))
    proc.send_signal(signal.SIGINT)
    wait_for(lambda: run.record.should_stop())  # the cancel was requested
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert f"stopped waiting: run {run.run_id} is still running" in err
    assert "finishes cancelling by itself" in err
    assert f"follow it: tunesdk logs -f {run.run_id}" in err
    assert worker_alive(run)  # left to finish its cancel
    run.backend.kill(run.record)  # type: ignore[attr-defined]


def test_ctrl_c_behaves_the_same_for_managed_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """`follow` is backend-agnostic: the same cancel, the same words, for a provider's run."""
    from tunesdk.cli import follow

    class ManagedRun:
        run_id = "together-1"
        backend = object()  # not a LocalBackend: no worker to kill
        status = "running"
        cancels = 0

        def events(self, *, after: int = 0, timeout: float | None = None) -> Iterator[ts.Event]:
            if self.cancels == 0:
                raise KeyboardInterrupt
            self.status = "cancelled"
            yield ts.Cancelled(run_id=self.run_id, seq=after + 1)

        def cancel(self, *, wait: bool = True) -> None:
            assert wait is False  # the CLI answers at once and keeps showing events
            self.cancels += 1

        @property
        def record(self) -> object:
            class Record:
                @staticmethod
                def events() -> list[ts.Event]:
                    return [ts.Cancelled()]

            return Record()

    notes: list[str] = []
    monkeypatch.setattr(follow.err, "print", lambda message, **_: notes.append(message))
    managed = ManagedRun()
    code = follow.follow(managed, as_json=True, restart_hint="tunesdk run job.yaml -b together")  # type: ignore[arg-type]
    assert code == 130 and managed.cancels == 1
    assert notes[0].startswith("Ctrl-C: cancelling run together-1")
    assert notes[1:] == [
        "run together-1 cancelled before it saved a checkpoint",
        "  start it again: tunesdk run job.yaml -b together",
    ]


def test_a_cancel_the_provider_refuses_leaves_the_next_commands(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tunesdk.cli import follow
    from tunesdk.errors import ProviderError

    class Unreachable:
        run_id = "openai-1"
        backend = object()
        status = "running"

        def events(self, *, after: int = 0, timeout: float | None = None) -> Iterator[ts.Event]:
            raise KeyboardInterrupt
            yield  # pragma: no cover

        def cancel(self, *, wait: bool = True) -> None:
            raise ProviderError(
                "could not reach openai at http://127.0.0.1:9/v1", provider="openai"
            )

    notes: list[str] = []
    monkeypatch.setattr(follow.err, "print", lambda message, **_: notes.append(message))
    code = follow.follow(Unreachable(), as_json=True, restart_hint="-")  # type: ignore[arg-type]
    assert code == 130
    assert notes[1] == (
        "could not cancel run openai-1: could not reach openai at http://127.0.0.1:9/v1"
    )
    assert "was not cancelled and is still running" in notes[2]
    assert notes[3:] == [
        "  cancel it: tunesdk cancel openai-1",
        "  follow it: tunesdk logs -f openai-1",
    ]
