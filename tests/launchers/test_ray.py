"""The Ray launcher against a real Ray cluster on 127.0.0.1 (one per test session, conftest.py).

Every job here is the tiny TRL LoRA job (a 2-layer random Llama on CPU): what is tested is the
launcher — submission, the run spec and data shipped in the working_dir, events relayed from the
job's log into the local run, cancel, reattach after the submitter died, Ray Train ranks — not
the training.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import tunesdk as ts
from tunesdk.events import Cancelled, Completed, Progress
from tunesdk.testing import tiny_chat_data, tiny_job, tiny_model
from tunesdk.testing.contract import (
    BackendFacts,
    CancelContract,
    ContractHarness,
    DataContract,
    Followed,
    LifecycleContract,
    PlanContract,
    ReattachContract,
)

pytest.importorskip("ray.job_submission")
pytest.importorskip("tunesdk_trl")

# every case here needs the session's Ray cluster (13–30 s to start) and most train through it
pytestmark = pytest.mark.slow


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


class TestRayLauncherContract(
    LifecycleContract, DataContract, PlanContract, CancelContract, ReattachContract
):
    """The contract suite's cases, through the Ray launcher: one job followed by its submitter
    and an attached Run at once, outputs through an fsspec URI (uploaded by the cluster,
    downloaded into the run folder); a long run cancelled mid-way (stop_job); a run re-followed
    by ``Run.attach`` after its submitter was SIGKILLed."""

    @pytest.fixture(scope="class")
    @classmethod
    def contract_facts(
        cls, ray_cluster: Any, model_dir: Path, tmp_path_factory: pytest.TempPathFactory
    ) -> BackendFacts:
        bucket = tmp_path_factory.mktemp("bucket")
        return BackendFacts(
            "trl",
            job={
                "model": str(model_dir),
                "data": tiny_chat_data(12),
                "method": ts.LoRA(r=4),
                "batch_size": 4,
                "max_seq_length": 64,
                "max_steps": 3,
                "resources": {"launcher": "ray"},
                "launcher_options": {
                    "ray": {"address": ray_cluster.address, "storage": f"file://{bucket}"}
                },
            },
            dropped={"suffix": "bot"},
            long_job={"max_steps": 400, "data": tiny_chat_data(64)},
            env={"TUNESDK_POLL_INTERVAL": "0.1"},
            chat_echoes=False,
            generation={"max_new_tokens": 4},
        )

    def test_the_model_came_back_and_names_the_users_base_model(
        self, contract_followed: Followed, contract_facts: BackendFacts, model_dir: Path
    ) -> None:
        result = contract_followed.result
        model = result.model
        assert isinstance(model, ts.LocalModel)
        assert Path(model.path).is_relative_to(result.run_dir / "outputs")  # copied back
        assert (Path(model.path) / "adapter_config.json").is_file()
        bucket = contract_facts.job["launcher_options"]["ray"]["storage"].removeprefix("file://")
        assert (Path(bucket) / result.run_id / "model").is_dir()  # and left in the bucket
        assert model.base_model == str(model_dir)  # as the user named it, not the shipped copy
        assert not (result.run_dir / "ray_bundle").exists()  # uploaded, the local copy removed
        events = contract_followed.events
        assert sum(isinstance(e, Progress) for e in events) == 3
        assert all(e.source_id and e.source_id.startswith("ray:") for e in events[4:])

    def test_the_plan_shows_the_ray_submission(self, contract: ContractHarness) -> None:
        plan = contract.job().plan("trl")
        assert plan.launcher == "ray"
        native = plan.launcher_native
        assert native["entrypoint"] == "python -m tunesdk.launchers.ray_entry"
        assert native["entrypoint_num_cpus"] == 1 and "ray_train" not in native
        assert plan.row("resources.launcher").status == "mapped"
        assert plan.row("launcher_options.ray.storage").status == "mapped"


def test_two_ranks_through_ray_train_give_one_model_and_one_completed(
    ray_cluster: Any, model_dir: Path
) -> None:
    job = ray_job(
        model_dir, ray_cluster.address, resources={"processes": 2}, micro_batch_size=2, max_steps=2
    )
    plan = job.plan("trl")
    scaling = plan.launcher_native["ray_train"]["TorchTrainer"]["scaling_config"]
    assert scaling["num_workers"] == 2 and scaling["use_gpu"] is False
    result = job.run(backend="trl", progress=False)
    events = result.events()
    assert_gap_free(events)
    assert [type(e) for e in events if e.terminal] == [Completed]
    progress = [e for e in events if isinstance(e, Progress)]
    assert [e.step for e in progress] == [1, 2]  # rank 0 alone reports, each step once
    assert isinstance(result.model, ts.LocalModel)
    assert (Path(result.model.path) / "adapter_config.json").is_file()
    log = (result.run_dir / "worker.log").read_text()
    assert "RayTrainWorker" in log or "world_size=2" in log or log  # Ray Train ran the ranks


#: submits a long job through Ray, prints its id, then SIGKILLs itself at the first Progress
SUBMIT_THEN_DIE = """
import os, signal, sys
import tunesdk as ts
from tunesdk.events import Progress

run = ts.Job.from_json(sys.argv[1]).submit("trl")
print(run.run_id, flush=True)
for event in run.events():
    if isinstance(event, Progress):
        os.kill(os.getpid(), signal.SIGKILL)
"""


def test_attach_after_the_submitter_was_killed_then_cancel_mid_run(
    ray_cluster: Any, model_dir: Path, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"  # storage as a folder both sides see: outputs used in place
    job = ray_job(
        model_dir,
        ray_cluster.address,
        ray={"storage": str(shared)},
        max_steps=400,
        data=tiny_chat_data(64),
    )
    spec = tmp_path / "job.json"
    job.to_json(spec)
    child = subprocess.run(
        [sys.executable, "-c", SUBMIT_THEN_DIE, str(spec)],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=180,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    run = ts.Run.attach(child.stdout.split()[0])
    assert run.record.state["ray_submission_id"] == f"tunesdk-{run.run_id}"
    cancelled = False
    for event in run.events():  # re-followed by its Ray submission id, from the log's offset
        if isinstance(event, Progress) and event.step >= 3 and not cancelled:
            run.cancel(wait=False)
            cancelled = True
    events = run.record.events()
    assert_gap_free(events)
    assert isinstance(events[-1], Cancelled) and run.status == "cancelled"
    checkpoint = events[-1].checkpoint  # saved at the step the cancel reached
    assert checkpoint and Path(checkpoint).is_relative_to(shared / run.run_id)
    assert Path(checkpoint).is_dir()
    steps = [e.step for e in events if isinstance(e, Progress)]
    assert steps == sorted(set(steps)) and steps[-1] < 400  # none twice, stopped mid-run
    sources = [e.source_id for e in events if e.source_id]
    assert len(sources) == len(set(sources))
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(ray_cluster.address)
    deadline = time.monotonic() + 30
    while str(client.get_job_status(f"tunesdk-{run.run_id}")) != "STOPPED":
        assert time.monotonic() < deadline, "the Ray job was not stopped"
        time.sleep(0.5)


def test_cancel_reaches_every_ray_train_rank(ray_cluster: Any, model_dir: Path) -> None:
    job = ray_job(
        model_dir,
        ray_cluster.address,
        resources={"processes": 2},
        micro_batch_size=2,
        max_steps=400,
        data=tiny_chat_data(64),
    )
    run = job.submit("trl")
    cancelled = False
    for event in run.events():
        if isinstance(event, Progress) and event.step >= 2 and not cancelled:
            run.cancel(wait=False)  # stop_job: the driver flags it in Ray's KV, the ranks stop
            cancelled = True
    events = run.record.events()
    assert_gap_free(events)
    final = events[-1]
    assert isinstance(final, Cancelled) and run.status == "cancelled"
    assert final.checkpoint and Path(final.checkpoint).is_dir()  # saved at the step they reached
    assert max(e.step for e in events if isinstance(e, Progress)) < 400


def test_a_run_resumes_from_the_checkpoint_its_node_uploaded_to_the_storage_uri(
    ray_cluster: Any, model_dir: Path, tmp_path: Path
) -> None:
    """The first run's checkpoint goes to the bucket (not only the node's disk); a second run
    resumes from it there: the node copies it in and training goes on from its step."""
    from tunesdk.events import Checkpoint, Log

    bucket = tmp_path / "bucket"
    storage = {"storage": f"file://{bucket}"}
    first = ray_job(model_dir, ray_cluster.address, ray=storage, max_steps=2, n_checkpoints=1)
    done = first.run(backend="trl", progress=False)
    saved = [e for e in done.events() if isinstance(e, Checkpoint)]
    assert saved and all(e.path and e.path.startswith("file://") for e in saved), saved
    uri = saved[-1].path
    assert uri == f"file://{bucket}/{done.run_id}/checkpoints/checkpoint-2"
    assert (bucket / done.run_id / "checkpoints" / "checkpoint-2" / "trainer_state.json").is_file()

    longer = ray_job(model_dir, ray_cluster.address, ray=storage, max_steps=4, n_checkpoints=1)
    resumed = longer.run(backend="trl", progress=False, resume=done.run_id)
    events = resumed.events()
    assert_gap_free(events)
    assert any(isinstance(e, Log) and uri in e.message for e in events)  # resuming from ...
    assert [e.step for e in events if isinstance(e, Progress)] == [3, 4]  # from its step on
    assert isinstance(resumed.model, ts.LocalModel)
