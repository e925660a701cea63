"""The emulator kit: one face for every provider emulator, checked settings, the admin routes,
the phase timeline, discovery through the backend, and the one ``tunesdk emulator`` command."""

from __future__ import annotations

import ast
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tunesdk.cli.emulator import translate_flags
from tunesdk.emulation import (
    EmulatorSettings,
    PhaseTimeline,
    PlannedFailures,
    apply_settings,
    emulator_for,
    public_settings,
)
from tunesdk.errors import BackendUnavailable

PROVIDERS = ("openai", "together", "fireworks")
SRC = Path(__file__).resolve().parents[2] / "src" / "tunesdk"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ---- settings -----------------------------------------------------------------------------------


@dataclasses.dataclass
class _Settings(EmulatorSettings):
    queue_s: float = 0.1
    folder: Path | None = None


def test_settings_are_checked_by_name_and_type() -> None:
    settings = _Settings()
    with pytest.raises(TypeError, match=r"unknown emulator settings \['queue_seconds'\].*queue_s"):
        apply_settings(settings, {"queue_seconds": 1})
    with pytest.raises(ValueError, match="seconds_per_step"):
        apply_settings(settings, {"seconds_per_step": "fast"})
    assert settings.seconds_per_step == 0.05  # nothing changed by a refused update
    apply_settings(settings, {"queue_s": "2", "api_keys": "only-key", "folder": "/tmp/x"})
    assert settings.queue_s == 2.0 and settings.api_keys == frozenset({"only-key"})
    assert public_settings(settings) == {
        "seconds_per_step": 0.05,
        "fail_at_step": None,
        "queue_s": 2.0,
        "folder": "/tmp/x",
    }  # JSON-able, and the accepted keys are never shown


@pytest.mark.parametrize("name", PROVIDERS)
def test_every_emulator_has_the_same_face(name: str, providers: Any) -> None:
    kind = emulator_for(name)
    with pytest.raises(TypeError, match="unknown emulator settings"):
        kind(no_such_setting=1)
    with providers.start(name) as provider:
        emulator = provider.emulator
        assert emulator.name == name and isinstance(emulator.jobs, dict)
        env = emulator.env("k-123")
        assert "k-123" in env.values() and any(v.startswith(emulator.url) for v in env.values())
        emulator.configure(seconds_per_step=0.25)
        assert emulator.settings.seconds_per_step == 0.25
        with pytest.raises(ValueError):
            emulator.configure(seconds_per_step=[1])
        emulator.fault(status=503, path="/nowhere$")
        httpx.get(f"{emulator.url}/nowhere/below")  # a prefix of the exact path: no fault
        assert httpx.get(f"{emulator.url}/nowhere").status_code == 503
        assert [r.path for r in emulator.requests] == ["/nowhere/below", "/nowhere"]


def test_default_ports_are_distinct() -> None:
    ports = [emulator_for(name).default_port for name in PROVIDERS]
    assert len(set(ports)) == len(ports)


@pytest.mark.parametrize("name", PROVIDERS)
def test_one_settings_route_for_every_emulator(name: str, providers: Any) -> None:
    with providers.start(name, api_keys=["secret-key-1"]) as provider:
        url = provider.emulator.settings_url
        assert url.endswith("/_emulator/settings")
        shown = httpx.get(url).json()
        assert "api_keys" not in shown and "secret-key-1" not in str(shown)
        changed = httpx.post(url, json={"seconds_per_step": 0.5})
        assert changed.status_code == 200 and changed.json()["seconds_per_step"] == 0.5
        assert provider.emulator.settings.seconds_per_step == 0.5
        refused = httpx.post(url, json={"nope": 1})
        assert refused.status_code == 400 and "nope" in refused.text
        assert httpx.post(url, json={"seconds_per_step": "x"}).status_code == 400
        planned = httpx.post(
            f"{provider.emulator.url}/_emulator/fail_next_job", json={"at_step": 2}
        )
        assert planned.json() == {"at_step": 2, "failures_pending": 1}
        assert httpx.post(
            f"{provider.emulator.url}/_emulator/fail_next_job", json={"at_step": 0}
        ).is_client_error


# ---- fail_next_job, through tunesdk -------------------------------------------------------------


@pytest.mark.parametrize("name", PROVIDERS)
def test_fail_next_job_fails_only_the_next_job(
    name: str, providers: Any, samples: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tunesdk as ts

    model = {
        "openai": "gpt-4o-mini-2024-07-18",
        "together": "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
        "fireworks": "accounts/fireworks/models/qwen2p5-7b-instruct",
    }[name]
    data = samples.write(tmp_path / "train.jsonl", samples.chat(12))
    with providers.start(name) as provider:
        provider.wire(monkeypatch, tmp_path / "home")
        provider.emulator.fail_next_job(at_step=1, message="emulated: loss became NaN")
        job = ts.Job(model=model, data=data, epochs=1)
        with pytest.raises(ts.RunFailed):
            job.run(backend=name, progress=False)
        assert job.run(backend=name, progress=False).model is not None  # only the next one
        assert len(provider.emulator.jobs) == 2


# ---- the timeline -------------------------------------------------------------------------------


def test_the_timeline_walks_the_provider_phases() -> None:
    timeline = PhaseTimeline.start(
        total_steps=4,
        seconds_per_step=1.0,
        before=[("pending", 1.0), ("queued", 1.0)],
        after=[("uploading", 1.0)],
        started_at=100.0,
        failed="error",
        cancelling=("cancel_requested", 1.0),
    )
    at = {t: timeline.phase(100.0 + t) for t in (0.5, 1.5, 2.5, 6.5, 7.5)}
    assert at == {
        0.5: "pending",
        1.5: "queued",
        2.5: "running",
        6.5: "uploading",
        7.5: "completed",
    }
    assert timeline.step(104.5) == 2 and timeline.training_end() == 106.0
    assert timeline.cancel(104.5) and not timeline.cancel(104.6)  # one cancel
    assert timeline.phase(105.0) == "cancel_requested" and timeline.phase(106.0) == "cancelled"
    assert timeline.step(110.0) == 2  # training froze at the cancel
    failing = PhaseTimeline.start(
        total_steps=4, seconds_per_step=1.0, before=[], fail_at_step=2, started_at=0.0
    )
    assert failing.phase(2.5) == "failed" and failing.failure_time() == 2.0
    assert not failing.cancel(3.0)  # already ended


def test_planned_failures_are_used_in_order() -> None:
    failures = PlannedFailures()
    failures.plan(3)
    failures.plan(5, "boom")
    assert [failures.take(), failures.take(), failures.take()] == [
        failures_item(3, None),
        failures_item(5, "boom"),
        None,
    ]
    with pytest.raises(ValueError, match="at_step"):
        failures.plan(0)


def failures_item(step: int, message: str | None) -> Any:
    from tunesdk.emulation import PlannedFailure

    return PlannedFailure(step, message)


# ---- discovery and the core's independence ------------------------------------------------------


def test_emulators_are_found_through_the_backend() -> None:
    for name in PROVIDERS:
        assert emulator_for(name).name == name
    with pytest.raises(BackendUnavailable) as refused:
        emulator_for("trl")
    assert "ships no emulator" in str(refused.value)
    assert "together" in (refused.value.fix or "")


def test_the_core_never_imports_a_backend_package() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders += [f"{path.name}: {n}" for n in names if n.startswith("tunesdk_")]
    assert offenders == []


# ---- the command line ---------------------------------------------------------------------------


def test_older_flags_become_the_shared_ones() -> None:
    legacy = {
        "--require-api-key": "--api-key",
        "--phase-seconds": "phase_s",
        "--no-fine-tuning": ["--set", "fine_tuning_enabled=false"],
        "--queue-seconds": lambda v: ["--set", f"pending_s={float(v) / 2}"],
    }
    assert translate_flags(
        ["--port", "1", "--require-api-key=k", "--phase-seconds", "2", "--no-fine-tuning",
         "--queue-seconds", "3"],
        legacy,
    ) == [
        "--port", "1", "--api-key", "k", "--set", "phase_s=2",
        "--set", "fine_tuning_enabled=false", "--set", "pending_s=1.5",
    ]  # fmt: skip


def _serve(args: list[str], port: int) -> subprocess.Popen[str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "tunesdk", "emulator", *args, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/_emulator/settings")
            return server
        except httpx.TransportError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                out, err = server.communicate()
                pytest.fail(f"the emulator did not start: {out}{err}")
            time.sleep(0.1)


def test_ctrl_c_stops_the_emulator_without_a_traceback() -> None:
    port = _free_port()
    server = _serve(["together"], port)
    server.send_signal(signal.SIGINT)
    out, err = server.communicate(timeout=20)
    assert server.returncode == 0
    assert "Traceback" not in out + err
    assert f"TOGETHER_BASE_URL=http://127.0.0.1:{port}" in err


def test_the_banner_never_suggests_a_key_the_emulator_refuses() -> None:
    port = _free_port()
    server = _serve(["fireworks", "--api-key", "the-only-key", "--seconds-per-step", "2"], port)
    try:
        settings = httpx.get(f"http://127.0.0.1:{port}/_emulator/settings").json()
        assert settings["seconds_per_step"] == 2.0
    finally:
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=20)
    banner = err.splitlines()
    export = next(line for line in banner if "export" in line)
    assert f"FIREWORKS_BASE_URL=http://127.0.0.1:{port}" in export
    assert "FIREWORKS_API_KEY" not in export and "the-only-key" not in err
    assert any("FIREWORKS_API_KEY" in line and "--api-key" in line for line in banner)


def test_a_backend_without_an_emulator_is_a_clear_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tunesdk", "emulator", "trl"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3
    assert "ships no emulator" in done.stderr and "Traceback" not in done.stderr
