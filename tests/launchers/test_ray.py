"""The Ray launcher against a real Ray cluster on 127.0.0.1 (one per test session, conftest.py).

Every job here is the tiny TRL LoRA job (a 2-layer random Llama on CPU): what is tested is the
launcher — submission, the run spec and data shipped in the working_dir, events relayed from the
job's log into the local run, cancel, reattach after the submitter died, Ray Train ranks — not
the training.
"""

from __future__ import annotations

import ipaddress
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import tunesdk as ts
from tunesdk.errors import JobError
from tunesdk.events import Cancelled, Completed, Progress, StatusChanged
from tunesdk.launchers import LauncherUnavailable
from tunesdk.testing import tiny_job, tiny_model

pytest.importorskip("ray.job_submission")
pytest.importorskip("tunesdk_trl")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("ray-model") / "tiny")


@pytest.fixture(autouse=True)
def _home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TUNESDK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


def ray_job(model: Path, address: str, **overrides: Any) -> ts.Job:
    ray_options = {"address": address, **overrides.pop("ray", {})}
    resources = {"launcher": "ray", **overrides.pop("resources", {})}
    return tiny_job(model, resources=resources, launcher_options={"ray": ray_options}, **overrides)


def assert_gap_free(events: list[Any]) -> None:
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert sum(e.terminal for e in events) == 1 and events[-1].terminal


def test_every_ray_listener_is_on_loopback(ray_cluster: Any) -> None:
    pids = set(ray_cluster.pids())
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    mine = [line for line in out.splitlines() if any(f"pid={p}," in line for p in pids)]
    assert mine, "found no listening socket of the Ray cluster"
    for line in mine:
        host = line.split()[3].rsplit(":", 1)[0].strip("[]")
        address = ipaddress.ip_address(host)  # "*" or 0.0.0.0 (every address) fails here too
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped  # [::ffff:127.0.0.1]
        assert address.is_loopback, line


def test_lora_job_completes_with_gap_free_events_and_a_usable_model(
    ray_cluster: Any, model_dir: Path, tmp_path: Path
) -> None:
    # outputs through an fsspec URI: the cluster uploads the model, this side downloads it
    storage = f"file://{tmp_path / 'bucket'}"
    job = ray_job(model_dir, ray_cluster.address, ray={"storage": storage}, max_steps=3)
    result = job.run(backend="trl", progress=False)
    events = result.events()
    assert_gap_free(events)
    assert isinstance(events[-1], Completed)
    assert sum(isinstance(e, Progress) for e in events) == 3
    assert any(isinstance(e, StatusChanged) and e.status == "running" for e in events)
    model = result.model
    assert isinstance(model, ts.LocalModel)
    assert Path(model.path).is_relative_to(result.run_dir / "outputs")  # copied back
    assert (tmp_path / "bucket" / result.run_id / "model").is_dir()  # and left in the bucket
    assert model.base_model == str(model_dir)  # as the user named it, not the shipped copy
    assert isinstance(model.chat([{"role": "user", "content": "hi"}], max_new_tokens=3), str)
    again = ts.Run.attach(result.run_id)
    assert again.refresh() == [] and len(again.record.events()) == len(events)  # no re-append
