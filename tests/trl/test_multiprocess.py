"""Multi-process training: ``accelerate launch`` with gloo on this CPU, plans and launch errors."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

import tunesdk as ts
from tunesdk.errors import BackendUnavailable, JobError
from tunesdk.events import Cancelled, Checkpoint, Completed, Failed, Progress
from tunesdk.local import live_ranks
from tunesdk.store import RunRecord
from tunesdk.testing import tiny_chat_data
from tunesdk.worker import run_worker
from tunesdk_trl import TRLBackend
from tunesdk_trl.launch import CONFIG_FILE, visible_devices


def two_process_job(model: Path, **overrides: object) -> ts.Job:
    options: dict[str, object] = {
        "model": str(model),
        "data": tiny_chat_data(16),
        "method": ts.LoRA(r=4),
        "batch_size": 4,
        "micro_batch_size": 1,
        "max_seq_length": 64,
        "max_steps": 2,
        "resources": ts.Resources(processes=2),
    }
    options.update(overrides)
    return ts.Job(**options)


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


# ---- real runs ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_two_processes_train_together_and_give_one_result(tiny_model_path: Path) -> None:
    seen: list[object] = []
    result = two_process_job(tiny_model_path).run(
        backend="trl", progress=False, on_event=seen.append
    )
    progress = [e for e in seen if isinstance(e, Progress)]
    assert [e.step for e in progress] == [1, 2]  # rank 1 adds no events of its own
    # effective batch 4 = 1 per rank × 2 accumulation steps × 2 ranks: 2 steps see 8 of 16 rows
    assert progress[-1].epoch == pytest.approx(0.5)
    assert sum(isinstance(e, Completed) for e in seen) == 1
    assert isinstance(seen[-1], Completed)
    assert isinstance(result.model, ts.LocalModel)
    model_dir = Path(result.model.path)
    assert (model_dir / "adapter_config.json").is_file()
    assert (model_dir / "adapter_model.safetensors").is_file()
    run_dir = model_dir.parent.parent
    config = yaml.safe_load((run_dir / CONFIG_FILE).read_text())
    assert config["num_processes"] == 2 and config["distributed_type"] == "MULTI_GPU"
    assert isinstance(result.model.chat([{"role": "user", "content": "hi"}], max_new_tokens=2), str)


@pytest.mark.slow
def test_cancel_reaches_both_ranks_and_ends_cancelled(tiny_model_path: Path) -> None:
    job = two_process_job(tiny_model_path, data=tiny_chat_data(64), max_steps=5000, batch_size=2)
    run = job.submit(backend="trl")
    for event in run.events():
        if isinstance(event, Progress) and event.step >= 2:
            break
    ranks = live_ranks(run.record)
    assert len(ranks) == 2
    run.cancel(timeout=60)
    assert run.status == "cancelled"
    events = run.record.events()
    cancelled = [e for e in events if isinstance(e, Cancelled)]
    assert len(cancelled) == 1 and cancelled[0].checkpoint
    assert Path(cancelled[0].checkpoint).is_dir()
    steps = [e.step for e in events if isinstance(e, Checkpoint)]
    assert len(steps) == len(set(steps)) == 1
    deadline = time.monotonic() + 30
    while live_ranks(run.record) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert live_ranks(run.record) == []


# ---- plans --------------------------------------------------------------------------------------


def test_plan_shows_the_accelerate_launch_command_and_config() -> None:
    job = two_process_job(Path("org/model"), batch_size=8, micro_batch_size=2)
    plan = TRLBackend().plan(job)
    launched = plan.native["launch"]
    assert launched["command"][1:5] == [
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        f"<run folder>/{CONFIG_FILE}",
    ]
    assert launched["command"][-3:] == ["-m", "tunesdk.worker", "<run folder>"]
    config = launched["accelerate_config"]
    assert config["distributed_type"] == "MULTI_GPU" and config["num_processes"] == 2
    assert config["main_process_port"] == 0
    row = plan.row("resources.processes")
    assert row.status == "mapped" and "accelerate.commands.launch" in str(row.native_value)
    assert plan.native["config"]["gradient_accumulation_steps"] == 2  # 8 / (2 × 2 ranks)
    assert plan.row("batch_size").native_value == "2 × 2 × 2"
    assert plan.row("resources.strategy").native_value == "MULTI_GPU"
    assert not plan.dropped


def test_one_process_plan_runs_the_worker_directly() -> None:
    job = ts.Job(model="org/model", data=tiny_chat_data(4))
    plan = TRLBackend().plan(job)
    assert plan.native["launch"]["accelerate_config"] is None
    assert plan.native["launch"]["command"][1:] == ["-m", "tunesdk.worker", "<run folder>"]


def test_fsdp_and_deepspeed_write_accelerate_documented_sections() -> None:
    fsdp = TRLBackend().plan(
        two_process_job(Path("org/model"), resources=ts.Resources(processes=2, strategy="fsdp"))
    )
    config = fsdp.native["launch"]["accelerate_config"]
    assert config["distributed_type"] == "FSDP"
    assert config["fsdp_config"]["fsdp_version"] == 2
    assert config["fsdp_config"]["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    assert config["fsdp_config"]["fsdp_state_dict_type"] == "FULL_STATE_DICT"
    zero3 = TRLBackend().plan(
        two_process_job(
            Path("org/model"),
            resources=ts.Resources(processes=2, strategy="deepspeed", deepspeed_stage=3),
        )
    )
    deepspeed = zero3.native["launch"]["accelerate_config"]["deepspeed_config"]
    assert deepspeed["zero_stage"] == 3 and deepspeed["zero3_init_flag"] is True
    assert deepspeed["gradient_accumulation_steps"] == 2
    assert zero3.row("resources.deepspeed_stage").native_value == 3


def test_multi_node_plan_uses_the_rendezvous_options() -> None:
    rendezvous = {"main_process_ip": "10.0.0.1", "main_process_port": 29500, "machine_rank": 1}
    job = two_process_job(
        Path("org/model"),
        batch_size=8,
        resources=ts.Resources(processes=2, nodes=2),
        backend_options={"trl": {"accelerate": rendezvous}},
    )
    plan = TRLBackend().plan(job)
    config = plan.native["launch"]["accelerate_config"]
    assert (config["num_machines"], config["num_processes"]) == (2, 4)  # 4 ranks in all
    assert config["main_process_ip"] == "10.0.0.1" and config["machine_rank"] == 1
    assert plan.native["config"]["gradient_accumulation_steps"] == 2  # 8 / (1 × 4 ranks)
    assert "accelerate" not in plan.native["config"]  # launcher options never reach SFTConfig


def test_gpus_narrow_the_visible_devices() -> None:
    job = ts.Job(model="org/model", data=tiny_chat_data(4), resources=ts.Resources(gpus=2))
    assert visible_devices(job, "3,5,7") == "3,5"
    assert visible_devices(job, None) == "0,1"
    whole = ts.Job(model="org/model", data=tiny_chat_data(4))
    assert visible_devices(whole, "3") is None


# ---- errors before launch -------------------------------------------------------------------------


def test_batch_size_not_divisible_by_the_ranks_is_a_clear_error() -> None:
    job = two_process_job(Path("org/model"), batch_size=6, micro_batch_size=2)
    with pytest.raises(
        JobError, match=r"micro_batch_size \(2\) × training processes \(2\)"
    ) as info:
        TRLBackend().plan(job)
    assert info.value.where == "batch_size"
    assert "[4, 8, 12, 16]" in (info.value.fix or "")


def test_multi_node_without_rendezvous_is_refused_before_launch(tiny_model_path: Path) -> None:
    job = two_process_job(
        tiny_model_path, resources=ts.Resources(processes=2, nodes=2), batch_size=8
    )
    with pytest.raises(JobError, match="main_process_ip") as info:
        job.submit(backend="trl")
    assert "machine_rank" in (info.value.fix or "")


def test_deepspeed_stage_without_deepspeed_strategy_is_refused(tiny_model_path: Path) -> None:
    job = two_process_job(tiny_model_path, resources=ts.Resources(processes=2, deepspeed_stage=2))
    with pytest.raises(JobError, match="strategy='deepspeed'"):
        job.submit(backend="trl")


def test_processes_and_gpus_must_agree(tiny_model_path: Path) -> None:
    job = two_process_job(tiny_model_path, resources=ts.Resources(processes=2, gpus=4))
    with pytest.raises(JobError, match="one process per GPU"):
        job.submit(backend="trl")


@pytest.mark.parametrize("strategy", ["fsdp", "deepspeed"])
def test_sharding_strategies_need_cuda(tiny_model_path: Path, strategy: str) -> None:
    if cuda_available():
        pytest.skip("this machine has a CUDA GPU")
    job = two_process_job(tiny_model_path, resources=ts.Resources(processes=2, strategy=strategy))
    check = TRLBackend().check_job(job)
    assert not check.usable and "has none" in (check.reason or "")
    with pytest.raises(BackendUnavailable, match=f"strategy='{strategy}'"):
        job.submit(backend="trl")


def test_more_gpus_than_visible_is_refused(tiny_model_path: Path) -> None:
    job = ts.Job(
        model=str(tiny_model_path),
        data=tiny_chat_data(4),
        batch_size=64,
        micro_batch_size=1,
        resources=ts.Resources(gpus=64),  # one rank per GPU: 64 ranks
    )
    with pytest.raises(BackendUnavailable, match="gpus=64") as info:
        job.submit(backend="trl")
    assert "at most" in (info.value.fix or "")


def test_deepspeed_not_installed_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    import torch

    from tunesdk_trl import launch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "deepspeed" else real_find_spec(name, *a),
    )
    job = two_process_job(
        Path("org/model"), resources=ts.Resources(processes=2, strategy="deepspeed")
    )
    assert launch.hardware_problem(job) == (
        "strategy='deepspeed' needs the deepspeed package",
        "pip install deepspeed",
    )


# ---- a rank other than 0 fails ----------------------------------------------------------------


def test_rank_zero_reports_the_reason_of_the_rank_that_failed_first(
    tiny_model_path: Path,
    make_record: Callable[[ts.Job], RunRecord],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    record = make_record(two_process_job(tiny_model_path))
    peer_log = record.error_log.with_name(record.error_log.name + ".rank1")
    peer_log.write_text("out of memory: CUDA out of memory\n\nTraceback ...", encoding="utf-8")

    def lost_peer(self: TRLBackend, run: RunRecord) -> None:
        raise RuntimeError("[gloo] Connection closed by peer")

    monkeypatch.setattr(TRLBackend, "train", lost_peer)
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("RANK", "0")
    previous = signal.getsignal(signal.SIGTERM)
    try:
        assert run_worker(record.dir) == 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    failed = record.events()[-1]
    assert isinstance(failed, Failed)
    assert failed.error == "rank 1: out of memory: CUDA out of memory"
    assert failed.details_path == str(peer_log)
    assert "Connection closed by peer" in record.error_log.read_text()
