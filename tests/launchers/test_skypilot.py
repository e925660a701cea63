"""The skypilot launcher, offline: tasks checked by SkyPilot's own parser (in SkyPilot's own
environment), and launch / poll / cancel / recovery / attach against a fake ``sky`` client
(tests/launchers/fake_sky) whose managed jobs follow SkyPilot's state machine and run the task's
``run`` script on this machine, one process per node."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import tunesdk as ts
from tunesdk.errors import JobError
from tunesdk.events import Completed, Failed, Log, Progress, StatusChanged
from tunesdk.launchers import LauncherUnavailable, get_launcher
from tunesdk.launchers.skypilot import build_task
from tunesdk.launchers.skypilot.client import SkyJobs, find_interpreter
from tunesdk.launchers.skypilot.launcher import (
    ACTIVE,
    KNOWN_ACCELERATORS,
    TERMINAL,
    SkyPilotLauncher,
)
from tunesdk.testing import tiny_chat_data
from tunesdk.testing.contract import BackendContract, BackendFacts

FAKE_SKY = Path(__file__).with_name("fake_sky")
OUTPUTS = "s3://tunesdk-test-bucket/runs"
#: SkyPilot's own environment (tunesdk engine install skypilot), found before tests isolate HOME
ENGINES_DIR = Path(
    os.environ.get("TUNESDK_ENGINES_DIR") or Path.home() / ".tunesdk" / "engines"
).expanduser()
REAL_SKY_PYTHON = os.environ.get("TUNESDK_SKYPILOT_PYTHON") or str(
    ENGINES_DIR / "skypilot" / "bin" / "python"
)


@pytest.fixture(scope="module")
def real_sky() -> SkyJobs:
    """SkyPilot 0.14 itself, in its own environment (skipped, saying how, when absent)."""
    if not Path(REAL_SKY_PYTHON).exists():
        pytest.skip(
            f"no SkyPilot environment at {REAL_SKY_PYTHON}: `bash scripts/setup.sh --engines` "
            "(or `tunesdk engine install skypilot`) builds it"
        )
    return SkyJobs(REAL_SKY_PYTHON, timeout=120)


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in tiny_chat_data(8)), encoding="utf-8")
    return path


def sky_job(data: Any, **fields: Any) -> ts.Job:
    options = fields.pop("options", {"outputs": OUTPUTS})
    resources = {"launcher": "skypilot", **fields.pop("resources", {})}
    fields.setdefault("batch_size", 16)  # splits over 1, 2, 4, 8 or 16 processes
    fields.setdefault("micro_batch_size", 1)
    return ts.Job(
        model=fields.pop("model", "Qwen/Qwen2.5-0.5B-Instruct"),
        data=data,
        objective="sft",
        resources=resources,
        launcher_options={"skypilot": options},
        **fields,
    )


# ---- Job -> task --------------------------------------------------------------------------------


def several_jobs(data_file: Path) -> dict[str, ts.Job]:
    return {
        "one node, CPU": sky_job(str(data_file)),
        "two nodes": sky_job(str(data_file), resources={"nodes": 2, "accelerators": "A100:4"}),
        "spot": sky_job(
            str(data_file),
            resources={"accelerators": "H100:8", "spot": True, "cloud": "aws"},
            options={"outputs": OUTPUTS, "recovery": "FAILOVER", "max_restarts_on_errors": 2},
        ),
        "gpus fill the count": sky_job(str(data_file), resources={"accelerators": "L4", "gpus": 2}),
        "bucket data": sky_job("s3://my-data/train.jsonl", eval_data="gs://my-data/val.jsonl"),
    }


@pytest.fixture(scope="module")
def real_answers(real_sky: SkyJobs, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What SkyPilot itself says, in one of its processes (its import takes seconds): its
    version and statuses, the accelerator names it knows, and the tasks of `several_jobs` as
    ``sky.Task.from_yaml_config`` parsed them."""
    data_file = tmp_path_factory.mktemp("sky-data") / "train.jsonl"
    data_file.write_text("".join(json.dumps(r) + "\n" for r in tiny_chat_data(8)))
    jobs: dict[str, Any] = several_jobs(data_file)
    tasks = [build_task(job, "trl") for job in jobs.values()]
    jobs["tunesdk plan -o"] = None
    tasks.append(yaml.safe_load(plan_to_file(data_file.parent)))
    version, names, parsed = real_sky.batch(
        ("version", {}),
        ("accelerators", {"names": ["H100", "a100-80gb", "H100X", "tpu-v5e-8"]}),
        ("validate", {"tasks": tasks}),
    )
    described = dict(zip(jobs, parsed["described"], strict=True))
    return {"version": version, "accelerators": names, "parsed": described, "data": data_file}


def plan_to_file(folder: Path) -> str:
    """``tunesdk plan job.yaml -b trl --launcher skypilot -o task.yaml``; the file's text."""
    from typer.testing import CliRunner

    from tunesdk.cli import app

    (folder / "train.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in tiny_chat_data(8)), encoding="utf-8"
    )
    spec = {
        "model": "Qwen/Qwen2.5-0.5B-Instruct",
        "data": "train.jsonl",  # relative to the job file
        "batch_size": 64,
        "micro_batch_size": 4,
        "resources": {"accelerators": "H100:8", "nodes": 2, "spot": True},
        "launcher_options": {"skypilot": {"outputs": OUTPUTS}},
    }
    (folder / "job.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    task = folder / "task.yaml"
    args = ["plan", str(folder / "job.yaml"), "-b", "trl", "--launcher", "skypilot", "-o"]
    done = CliRunner().invoke(app, [*args, str(task)])
    assert done.exit_code == 0, done.output
    return task.read_text(encoding="utf-8")


def test_plan_writes_a_task_file_that_sky_jobs_launch_runs(tmp_path: Path) -> None:
    text = plan_to_file(tmp_path)
    task = yaml.safe_load(text)
    assert task["num_nodes"] == 2 and task["resources"]["use_spot"] is True
    assert task["file_mounts"]["~/tunesdk/inputs/data/train.jsonl"] == str(tmp_path / "train.jsonl")
    assert "TUNESDK_RUN_KEY" not in task["envs"]  # outputs keyed by $SKYPILOT_TASK_ID instead
    assert "run: |" in text and "pip install --upgrade tunesdk==" in text


def test_tasks_for_several_jobs_pass_skypilot_own_parser(real_answers: dict[str, Any]) -> None:
    parsed, data_file = real_answers["parsed"], real_answers["data"]
    cpu = parsed["one node, CPU"]
    assert cpu["num_nodes"] == 1 and cpu["resources"][0]["accelerators"] is None
    assert cpu["file_mounts"] == {"~/tunesdk/inputs/data/train.jsonl": str(data_file)}
    assert cpu["storage_mounts"]["~/tunesdk/outputs"] == {"source": OUTPUTS, "mode": "MOUNT_CACHED"}
    assert "tunesdk==" in cpu["setup"] and "tunesdk-trl==" in cpu["setup"]
    assert (
        "python -m tunesdk.launchers.skypilot.node ~/tunesdk/job.json --backend trl" in cpu["run"]
    )

    two = parsed["two nodes"]
    assert two["num_nodes"] == 2 and two["resources"][0]["accelerators"] == {"A100": 4}
    assert "SKYPILOT_NODE_RANK" in two["run"]  # the rendezvous comes from SkyPilot's variables

    spot = parsed["spot"]["resources"][0]
    assert spot["use_spot"] is True and spot["cloud"] == "AWS"
    assert spot["accelerators"] == {"H100": 8}
    assert spot["job_recovery"] == {"strategy": "FAILOVER", "max_restarts_on_errors": 2}

    assert parsed["gpus fill the count"]["resources"][0]["accelerators"] == {"L4": 2}
    from_cli = parsed["tunesdk plan -o"]
    assert from_cli["num_nodes"] == 2 and from_cli["resources"][0]["use_spot"] is True
    bucket = parsed["bucket data"]
    assert bucket["file_mounts"] == {
        "~/tunesdk/inputs/data/train.jsonl": "s3://my-data/train.jsonl",
        "~/tunesdk/inputs/eval_data/val.jsonl": "gs://my-data/val.jsonl",
    }


def test_the_run_script_carries_the_job_with_data_at_the_mounts(data_file: Path) -> None:
    task = build_task(
        sky_job(str(data_file), resources={"accelerators": "H100:8", "nodes": 2}), "trl"
    )
    script = task["run"]
    body = script.split("<<'TUNESDK_JOB_EOF'\n", 1)[1].split("\nTUNESDK_JOB_EOF\n", 1)[0]
    remote = json.loads(body)
    assert remote["data"] == "~/tunesdk/inputs/data/train.jsonl"
    assert remote["resources"] == {"gpus": 8, "nodes": 2}  # launcher fields stay here
    assert "launcher_options" not in remote and "output_dir" not in remote
    assert ts.Job.from_dict(remote).resources.gpus == 8


def test_in_memory_records_travel_inside_the_task_and_datasets_are_refused() -> None:
    rows = tiny_chat_data(4)
    task = build_task(sky_job(rows), "simulated")
    assert json.dumps(rows, separators=(",", ":"), sort_keys=True) in task["run"]
    assert "file_mounts" in task and "~/tunesdk/inputs/data" not in str(task["file_mounts"])
    with pytest.raises(JobError, match="too many to ship") as caught:
        build_task(sky_job(tiny_chat_data(4000)), "simulated")
    assert caught.value.where == "job.data"


def test_secrets_never_reach_the_task(monkeypatch: pytest.MonkeyPatch, data_file: Path) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value_0123456789")
    task = build_task(sky_job(str(data_file)), "trl")
    assert task["secrets"] == {"HF_TOKEN": None}  # filled in by SkyPilot at launch
    assert "hf_secret_value" not in yaml.safe_dump(task)
    with pytest.raises(JobError, match="looks like a secret") as caught:
        build_task(
            sky_job(str(data_file), options={"outputs": OUTPUTS, "envs": {"WANDB_API_KEY": "x"}}),
            "trl",
        )
    assert "secrets: [WANDB_API_KEY]" in (caught.value.fix or "")


@pytest.mark.parametrize(
    ("resources", "options", "where", "words"),
    [
        ({"gpus": 4}, {}, "resources.accelerators", "which GPU"),
        ({"accelerators": "H100:8", "gpus": 4}, {}, "resources.gpus", "disagree"),
        ({"accelerators": "H100:x"}, {}, "resources.accelerators", "TYPE:COUNT"),
        ({"accelerators": "H100:8", "processes": 2}, {}, "resources.processes", "one process"),
        ({}, {"outputs": "/mnt/out"}, "launcher_options.skypilot.outputs", "not a bucket"),
        ({}, {"recovery": "LAZY"}, "launcher_options.skypilot.recovery", "recovery strategy"),
        ({}, {"outptus": OUTPUTS}, "launcher_options.skypilot.outptus", "did you mean"),
    ],
)
def test_bad_options_are_clear_errors_at_plan_time(
    data_file: Path, resources: dict[str, Any], options: dict[str, Any], where: str, words: str
) -> None:
    job = sky_job(str(data_file), resources=resources, options=options)
    with pytest.raises(JobError, match=words) as caught:
        job.plan("simulated")
    assert caught.value.where == where and caught.value.fix


def test_the_batch_must_split_over_every_accelerator_of_every_node(data_file: Path) -> None:
    job = sky_job(
        str(data_file),
        batch_size=8,
        micro_batch_size=None,
        resources={"accelerators": "H100:8", "nodes": 2},
    )
    with pytest.raises(JobError, match=r"training processes \(16\)"):
        build_task(job, "simulated")


def test_the_plan_shows_the_task_and_a_row_per_launcher_field(data_file: Path) -> None:
    plan = sky_job(str(data_file), resources={"accelerators": "H100:8", "spot": True}).plan(
        "simulated"
    )
    rows = {row.option: row for row in plan.rows}
    assert rows["resources.accelerators"].native == "resources.accelerators"
    assert rows["resources.spot"].native == "resources.use_spot"
    assert rows["launcher_options.skypilot.outputs"].status == "mapped"
    text = plan.launcher_text()
    assert yaml.safe_load(text)["resources"]["use_spot"] is True
    assert "run: |" in text  # scripts as literal blocks, as people write tasks
    assert any("sky jobs launch task.yaml" in note for note in plan.notes)
    bare = sky_job(str(data_file), output_dir=str(data_file.parent / "out"), options={})
    notes = " ".join(bare.plan("simulated").notes)
    assert "no launcher_options.skypilot.outputs bucket" in notes
    assert "is this machine's; on the cluster" in notes


def test_the_node_script_rewrites_outputs_and_finds_the_newest_checkpoint(tmp_path: Path) -> None:
    from tunesdk.launchers.skypilot import node

    outputs = tmp_path / "outputs"
    for step in (2, 10, 9):
        (outputs / "run-1" / "checkpoints" / f"checkpoint-{step}").mkdir(parents=True)
    assert node.newest_checkpoint(outputs / "run-1") == (
        outputs / "run-1" / "checkpoints" / "checkpoint-10"
    )
    assert node.newest_checkpoint(tmp_path / "empty") is None
    path = str(outputs / "run-1" / "model")
    assert node.to_uri(path, str(outputs), OUTPUTS) == f"{OUTPUTS}/run-1/model"
    assert node.to_uri("/elsewhere/model", str(outputs), OUTPUTS) == "/elsewhere/model"
    job: dict[str, Any] = {}
    node._rendezvous(job, "trl", 1, 2, ["10.0.0.5", "10.0.0.6"])
    assert job["backend_options"]["trl"]["accelerate"] == {
        "main_process_ip": "10.0.0.5",
        "main_process_port": node.MASTER_PORT,
        "machine_rank": 1,
    }


# ---- the SkyPilot environment -------------------------------------------------------------------


def test_skypilot_missing_is_unusable_with_the_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TUNESDK_SKYPILOT_PYTHON", raising=False)
    monkeypatch.setenv("TUNESDK_ENGINES_DIR", str(tmp_path / "no-engines"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no `sky` command
    assert find_interpreter() is None
    check = SkyPilotLauncher().check()
    assert not check.usable and "tunesdk engine install skypilot" in (check.fix or "")
    monkeypatch.setenv("TUNESDK_SKYPILOT_PYTHON", str(tmp_path / "nope" / "python"))
    assert "does not exist" in (SkyPilotLauncher().check().reason or "")


def test_the_sky_command_on_path_names_the_interpreter(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TUNESDK_SKYPILOT_PYTHON", raising=False)
    sky = tmp_path / "bin" / "sky"
    sky.parent.mkdir()
    sky.write_text(f"#!{sys.executable}\nimport sky.client.cli\n")
    sky.chmod(0o755)
    monkeypatch.setenv("PATH", str(sky.parent))
    found = find_interpreter()
    assert found is not None and found.source == "path" and str(found.python) == sys.executable


def test_the_fake_knows_every_managed_job_status_skypilot_has(
    real_answers: dict[str, Any],
) -> None:
    real = real_answers["version"]["statuses"]
    assert real_answers["version"]["version"] == "0.14.1"
    sys.path.insert(0, str(FAKE_SKY))
    try:
        from sky.jobs import ManagedJobStatus
    finally:
        sys.path.remove(str(FAKE_SKY))
        for name in [m for m in sys.modules if m == "sky" or m.startswith("sky.")]:
            del sys.modules[name]
    assert {s.name: s.value for s in ManagedJobStatus} == real
    ends = {v for k, v in real.items() if k in ("SUCCEEDED", "CANCELLED") or k.startswith("FAILED")}
    assert set(TERMINAL) == ends


def test_skypilot_knows_accelerator_names_offline(real_answers: dict[str, Any]) -> None:
    answer = real_answers["accelerators"]
    assert answer["known"] == {"H100": "H100", "a100-80gb": "A100-80GB", "tpu-v5e-8": "tpu-v5e-8"}
    assert answer["source"]
    # tunesdk's own list (used when SkyPilot offers none offline) holds SkyPilot's names
    assert set(answer["names"]) <= set(KNOWN_ACCELERATORS)


def test_a_long_log_is_read_back_far_enough_to_miss_no_event(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, data_file: Path
) -> None:
    """The launcher asks for the log's last lines and widens the window until it reaches the
    events already relayed: none is lost behind a flood of other output, none relayed twice."""
    from tunesdk.launchers.skypilot import launcher as sky_launcher
    from tunesdk.launchers.skypilot.client import JobStatus
    from tunesdk.launchers.skypilot.protocol import event_line
    from tunesdk.registry import get_backend
    from tunesdk.store import RunStore

    monkeypatch.setenv("TUNESDK_POLL_INTERVAL", "0")
    job = simulated_job(data_file)
    backend = get_backend("simulated")
    run = RunStore(tmp_path / "home").create(job, job.plan("simulated"), "simulated")
    run.update_state(skypilot_job_id=7, skypilot_python=sys.executable)
    log: list[str] = []

    def step(n: int) -> None:
        log.extend(f"pip noise {n}.{i}" for i in range(150))  # e.g. a node's setup output
        data = {"run_id": "node-run", "seq": n, "type": "progress", "step": n}
        log.append("(task, pid=1) " + event_line(data))

    asked: list[int | None] = []

    def poll(self: SkyJobs, job_id: int, *, tail: int | None, logs: bool = True) -> JobStatus:
        asked.append(tail)
        return JobStatus(status="RUNNING", lines=log[-tail:] if tail else list(log))

    monkeypatch.setattr(SkyJobs, "poll", poll)
    launcher = SkyPilotLauncher()
    for n in range(1, 21):
        step(n)
    for event in launcher.poll(backend, run):
        run.emit(event)
    assert asked == [sky_launcher.TAIL, sky_launcher.TAIL * 4, sky_launcher.TAIL * 16]
    for n in range(21, 23):
        step(n)
    asked.clear()
    for event in launcher.poll(backend, run):
        run.emit(event)
    assert asked == [sky_launcher.TAIL]  # the last events relayed are in the window
    steps = [e.step for e in run.events() if isinstance(e, Progress)]
    assert steps == list(range(1, 23))


def test_skypilot_not_answering_is_a_problem_that_heals(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, data_file: Path
) -> None:
    from tunesdk.errors import ProviderError
    from tunesdk.follow import heals
    from tunesdk.launchers.skypilot.client import SkyPilotError
    from tunesdk.registry import get_backend
    from tunesdk.store import RunStore

    job = simulated_job(data_file)
    run = RunStore(tmp_path / "home").create(job, job.plan("simulated"), "simulated")
    run.update_state(skypilot_job_id=3, skypilot_python=sys.executable)

    def poll(self: SkyJobs, job_id: int, **_: Any) -> None:
        raise SkyPilotError("SkyPilot: ApiServerConnectionError: not up", kind="ApiServer")

    monkeypatch.setattr(SkyJobs, "poll", poll)
    with pytest.raises(ProviderError, match="did not report on managed job 3") as caught:
        SkyPilotLauncher().poll(get_backend("simulated"), run)
    assert heals(caught.value)  # the follow loop warns once and retries with backoff


# ---- launch, poll, cancel, attach against the fake sky.jobs -------------------------------------


@pytest.fixture
def fake_sky(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """The fake ``sky`` for the driver (this interpreter, the fake first on PYTHONPATH); its
    state folder is returned, with ``configure(...)`` writing its config."""
    home = tmp_path / "fake-sky"
    home.mkdir()
    monkeypatch.setenv("FAKE_SKY_HOME", str(home))
    monkeypatch.setenv("TUNESDK_SKYPILOT_PYTHON", sys.executable)
    inherited = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(FAKE_SKY), inherited])))
    monkeypatch.setenv("TUNESDK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TUNESDK_POLL_INTERVAL", "0.05")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    yield home


def configure(home: Path, **values: Any) -> None:
    path = home / "config.json"
    current = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**current, **values}))


def simulated_job(data: Path, steps: int = 4, step_seconds: float = 0.05, **more: Any) -> ts.Job:
    options = more.pop("options", {"outputs": OUTPUTS})
    return sky_job(
        str(data),
        max_steps=steps,
        resources={"accelerators": "H100:1", **more.pop("resources", {})},
        backend_options={"simulated": {"step_seconds": step_seconds, **more.pop("backend", {})}},
        options=options,
        **more,
    )


def test_a_run_completes_with_gap_free_events_and_its_model_in_the_bucket(
    fake_sky: Path, data_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value_0123456789")
    configure(fake_sky, step_seconds=0.3)  # slow enough to see PENDING and STARTING
    run = simulated_job(data_file).submit("simulated")
    events = list(run.events(timeout=60))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    provider = [e.provider_status for e in events if isinstance(e, StatusChanged)]
    assert provider[:2] == ["LAUNCHING", "PENDING"] and "STARTING" in provider
    assert [e.step for e in events if isinstance(e, Progress)] == [1, 2, 3, 4]
    done = events[-1]
    assert isinstance(done, Completed) and sum(e.terminal for e in events) == 1
    assert done.model.path == f"{OUTPUTS}/{run.run_id}"  # where the node wrote it
    assert ts.load_model(done.model.to_uri()).path == done.model.path
    assert (fake_sky / "buckets" / OUTPUTS.split("://")[1] / run.run_id).is_dir()
    # the token went to the job through SkyPilot's secrets, never into a file of the run
    assert json.loads((fake_sky / "jobs" / "1" / "secrets.json").read_text()) == {
        "HF_TOKEN": "hf_secret_value_0123456789"
    }
    for path in run.record.dir.rglob("*"):
        if path.is_file():
            assert "hf_secret_value" not in path.read_text(errors="replace"), path
    # a second follower, as after Run.attach, sees the same events
    again = list(ts.Run.attach(run.run_id).events(timeout=10))
    assert [e.seq for e in again] == [e.seq for e in events]


def test_a_preempted_spot_job_recovers_and_resumes_from_its_checkpoint(
    fake_sky: Path, data_file: Path
) -> None:
    configure(fake_sky, scenario="preempt_once")
    job = simulated_job(
        data_file, steps=6, step_seconds=0.3, resources={"spot": True}, n_checkpoints=6
    )
    events = list(job.submit("simulated").events(timeout=90))
    recovering = [e for e in events if isinstance(e, Log) and "recovering" in e.message]
    assert len(recovering) == 1 and recovering[0].level == "warning"
    resumed = [e for e in events if isinstance(e, Log) and "resuming from checkpoint" in e.message]
    assert resumed and OUTPUTS in resumed[0].message
    steps = [e.step for e in events if isinstance(e, Progress)]
    assert steps[-1] == 6 and steps.count(1) == 1  # resumed, not restarted from step 1
    assert isinstance(events[-1], Completed)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


@pytest.mark.parametrize(
    ("scenario", "status", "words"),
    [
        ("no_resource", "FAILED_NO_RESOURCE", "Failed to acquire resources"),
        ("fail_setup", "FAILED_SETUP", "setup"),
    ],
)
def test_skypilot_failures_end_the_run_failed_with_its_reason(
    fake_sky: Path, data_file: Path, scenario: str, status: str, words: str
) -> None:
    configure(fake_sky, scenario=scenario)
    run = simulated_job(data_file).submit("simulated")
    with pytest.raises(ts.RunFailed):
        run.wait(timeout=30)
    failed = run.record.events()[-1]
    assert isinstance(failed, Failed) and failed.error_type == status
    assert words in failed.error and "fix:" in failed.error


def test_a_training_failure_keeps_the_workers_own_reason(fake_sky: Path, data_file: Path) -> None:
    run = simulated_job(data_file, backend={"fail_at_step": 2}).submit("simulated")
    events = list(run.events(timeout=60))
    failed = events[-1]
    assert isinstance(failed, Failed) and "simulated failure at step 2" in failed.error
    assert sum(e.terminal for e in events) == 1


@pytest.mark.slow
def test_a_tiny_trl_lora_job_trains_on_two_fake_nodes(fake_sky: Path, tmp_path: Path) -> None:
    """The real trl backend on two "nodes" (CPU ranks, gloo): the model folder shipped as a file
    mount, the rendezvous from SkyPilot's variables (node 0's address from SKYPILOT_NODE_IPS,
    the rank from SKYPILOT_NODE_RANK), one set of events from node 0, the adapter in the
    bucket, and the handle (through ``outputs_local``) naming local files."""
    from tunesdk.testing import tiny_job, tiny_model

    bucket = fake_sky / "buckets" / OUTPUTS.split("://", 1)[1]  # the fake's bucket, seen here
    bucket.mkdir(parents=True)
    job = tiny_job(
        tiny_model(tmp_path / "tiny"),
        max_steps=3,
        batch_size=4,
        micro_batch_size=2,  # 2 nodes × 1 process × 2 = the batch of 4
        resources={"launcher": "skypilot", "nodes": 2},
        launcher_options={"skypilot": {"outputs": OUTPUTS, "outputs_local": str(bucket)}},
    )
    result = job.run(backend="trl", progress=False)
    events = result.events()
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.step for e in events if isinstance(e, Progress)] == [1, 2, 3]
    assert result.model is not None and result.model.path.startswith(str(bucket))
    assert (Path(result.model.path) / "adapter_config.json").exists()
    assert ts.load_model(result.model.to_uri()).kind == "adapter"
    [config] = (fake_sky / "jobs" / "1" / "node1").glob(
        "tunesdk/home/runs/*/accelerate_config.yaml"
    )
    rendezvous = yaml.safe_load(config.read_text())
    assert rendezvous["machine_rank"] == 1 and rendezvous["main_process_ip"] == "127.0.0.1"
    assert rendezvous["num_machines"] == 2
    # both nodes ended well (SkyPilot's SUCCEEDED needs every node's exit code 0)
    assert "SUCCEEDED" in (fake_sky / "jobs" / "1" / "history.log").read_text()


def test_a_stopped_jobs_controller_is_asked_again_with_refresh(fake_sky: Path) -> None:
    """SkyPilot's jobs controller stops when idle; a job followed (or attached) after that is
    looked up with ``refresh=True``, which starts it again, instead of failing forever."""
    configure(fake_sky, controller_stopped=True)
    client = SkyJobs(sys.executable)
    job_id = client.launch({"name": "t", "run": "true"}, name="t", secrets=[])
    assert client.poll(job_id, tail=10).status in (*ACTIVE, *TERMINAL)


def test_checks_before_launch_name_the_fix(fake_sky: Path, data_file: Path, tmp_path: Path) -> None:
    with pytest.raises(JobError, match="tears its cluster down") as caught:
        simulated_job(data_file, options={}).submit("simulated")
    assert caught.value.where == "launcher_options.skypilot.outputs"
    with pytest.raises(JobError, match="does not know the accelerator 'H100X'") as caught:
        simulated_job(data_file, resources={"accelerators": "H100X:8"}).submit("simulated")
    assert "did you mean H100" in (caught.value.fix or "")
    configure(fake_sky, enabled=[])
    with pytest.raises(LauncherUnavailable, match="no cloud") as unavailable:
        simulated_job(data_file).submit("simulated")
    assert "sky check" in (unavailable.value.fix or "")
    configure(fake_sky, enabled=["Kubernetes"])
    with pytest.raises(LauncherUnavailable, match="object storage"):
        simulated_job(data_file).submit("simulated")
    with pytest.raises(LauncherUnavailable, match="only Kubernetes enabled"):
        simulated_job(data_file, resources={"cloud": "gcp"}).submit("simulated")
    assert not (fake_sky / "jobs").exists()  # nothing was launched
    assert get_launcher("skypilot").check().usable


def test_the_cluster_not_this_machine_must_reach_the_hub(fake_sky: Path, data_file: Path) -> None:
    """Offline here, a hub model id for a cluster run is the cluster's to download: the trl
    backend's checks of this machine step aside, and the launcher's own checks speak."""
    configure(fake_sky, enabled=[])
    job = sky_job(
        str(data_file),
        model="org/not-cached-here",
        resources={"accelerators": "H100:8", "nodes": 2},
        batch_size=64,
        micro_batch_size=4,
    )
    with pytest.raises(LauncherUnavailable, match="no cloud"):
        job.submit("trl")


# ---- the contract suite's lifecycle cases, through the fake ------------------------------------


class TestSkyPilotLauncherContract(BackendContract):
    """The backend contract with the worker launched as a SkyPilot managed job (the simulated
    backend trains; the fake sky client runs the job here). The run ends only once SkyPilot's
    status is terminal, so the cancel case also walks the fake through CANCELLING → CANCELLED."""

    @pytest.fixture(scope="class")
    @classmethod
    def contract_facts(cls, tmp_path_factory: pytest.TempPathFactory) -> BackendFacts:
        home = tmp_path_factory.mktemp("fake-sky")
        bucket = home / "buckets" / OUTPUTS.split("://", 1)[1]  # the fake's bucket, seen here
        bucket.mkdir(parents=True)
        return BackendFacts(
            "simulated",
            job={
                "model": "Qwen/Qwen2.5-0.5B-Instruct",
                "data": tiny_chat_data(12),
                "max_steps": 4,
                "resources": {"launcher": "skypilot", "accelerators": "L4:1"},
                "launcher_options": {
                    "skypilot": {"outputs": OUTPUTS, "outputs_local": str(bucket)}
                },
            },
            long_job={"max_steps": 2000},  # 20 s at the simulated 0.01 s a step: cancelled sooner
            dropped={"weight_decay": 0.05},
            env={
                "FAKE_SKY_HOME": str(home),
                "TUNESDK_SKYPILOT_PYTHON": sys.executable,
            },
            python_path=[FAKE_SKY],
        )
