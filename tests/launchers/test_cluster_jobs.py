"""Jobs for cluster launchers, without a cluster: this machine's hardware is not checked for a
worker that runs elsewhere, plans say how the cluster starts the ranks, and a stored job whose
launcher secrets were redacted is refused before it reaches a cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import tunesdk as ts
from tunesdk.errors import BackendUnavailable, JobError
from tunesdk.launchers import Launcher, get_launcher, register_launcher, worker_runs_here
from tunesdk.registry import get_backend
from tunesdk.testing import tiny_chat_data

ROWS = tiny_chat_data(8)
RAY = {"ray": {"address": "http://127.0.0.1:1"}}
SKY = {"skypilot": {"outputs": "s3://bucket/prefix"}}


@pytest.fixture(autouse=True)
def _home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TUNESDK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


def job(launcher: str = "local", **fields: Any) -> ts.Job:
    options = {"ray": RAY, "skypilot": SKY}.get(launcher, {})
    resources = {"launcher": launcher, **fields.pop("resources", {})}
    return ts.Job(
        **{
            "model": "org/not-cached-here",
            "data": ROWS,
            "max_steps": 2,
            "resources": resources,
            "launcher_options": options,
            **fields,
        }
    )


# ---- 1. whose machine is checked -----------------------------------------------------------------


def test_only_the_local_launcher_runs_the_worker_here() -> None:
    assert worker_runs_here(job("local"))
    assert not worker_runs_here(job("ray"))
    assert not worker_runs_here(job("skypilot"))
    assert get_launcher("local").runs_here and not Launcher.runs_here  # a plugin: elsewhere


def test_a_registered_launcher_that_runs_here_gets_this_machines_checks() -> None:
    class Here(type(get_launcher("local"))):  # type: ignore[misc]
        name = "here-test"

    register_launcher("here-test", Here)
    assert worker_runs_here(job("here-test"))


@pytest.fixture
def no_unsloth_gpu(monkeypatch: pytest.MonkeyPatch) -> Any:
    environment = pytest.importorskip("tunesdk_unsloth.environment")
    monkeypatch.setattr(environment, "find_gpu", lambda *_: None)  # this machine, any machine
    monkeypatch.setattr(environment, "engine", lambda: None)
    monkeypatch.delenv(environment.ALLOW_CPU_ENV, raising=False)
    return environment


@pytest.mark.parametrize("launcher", ["ray", "skypilot"])
def test_an_unsloth_cluster_job_plans_and_passes_its_checks_without_a_gpu_here(
    no_unsloth_gpu: Any, launcher: str
) -> None:
    backend = get_backend("unsloth")
    cluster_job = job(launcher, objective="dpo", data=_pairs())
    check = backend.check_job(cluster_job)
    assert check.usable, check.reason
    assert "checked there" in (check.reason or "")
    plan = cluster_job.plan("unsloth")
    assert plan.launcher == launcher
    assert any("launcher's machines" in note for note in plan.notes)
    backend.preflight(cluster_job, plan)  # a hub id is the cluster's to download


def test_an_unsloth_local_job_is_still_refused_with_the_gpu_fix(no_unsloth_gpu: Any) -> None:
    check = get_backend("unsloth").check_job(job("local"))
    assert not check.usable
    assert check.reason == no_unsloth_gpu.NO_GPU and check.fix == no_unsloth_gpu.NO_GPU_FIX
    with pytest.raises(BackendUnavailable) as caught:
        job("local").submit("unsloth")
    assert caught.value.fix == no_unsloth_gpu.NO_GPU_FIX


def test_an_unsloth_cluster_job_still_refuses_what_unsloth_cannot_train(
    no_unsloth_gpu: Any,
) -> None:
    check = get_backend("unsloth").check_job(job("ray", method=ts.PrefixTuning()))
    assert not check.usable and "prefix" in (check.reason or "")


@pytest.fixture
def no_axolotl_here(monkeypatch: pytest.MonkeyPatch) -> Any:
    backend_module = pytest.importorskip("tunesdk_axolotl.backend")
    monkeypatch.setattr(backend_module.schema, "axolotl_installed", lambda: False)
    monkeypatch.setattr(backend_module.engines, "find", lambda *_: None)
    monkeypatch.delenv(backend_module.COMMAND_ENV, raising=False)
    return backend_module


@pytest.mark.parametrize("launcher", ["ray", "skypilot"])
def test_an_axolotl_cluster_job_plans_and_passes_its_checks_without_axolotl_here(
    no_axolotl_here: Any, launcher: str
) -> None:
    backend = get_backend("axolotl")
    cluster_job = job(launcher)
    check = backend.check_job(cluster_job)
    assert check.usable and "checked there" in (check.reason or "")
    plan = cluster_job.plan("axolotl")
    assert plan.launcher == launcher
    assert not any("not installed" in note for note in plan.notes)
    backend.preflight(cluster_job, plan)  # the hub id is not cached here: the cluster's to get


def test_an_axolotl_local_job_is_still_refused_with_the_install_fix(
    no_axolotl_here: Any,
) -> None:
    check = get_backend("axolotl").check_job(job("local"))
    assert not check.usable and check.fix == no_axolotl_here.INSTALL_FIX
    with pytest.raises(JobError, match="not-cached-here"):  # and the model is checked here
        get_backend("axolotl").preflight(job("local"), job("local").plan("axolotl"))


def test_trl_uses_the_same_rule() -> None:
    pytest.importorskip("tunesdk_trl")
    backend = get_backend("trl")
    with pytest.raises(JobError, match="not-cached-here"):
        backend.preflight(job("local"), job("local").plan("trl"))
    backend.preflight(job("ray"), job("ray").plan("trl"))


def _pairs() -> list[dict[str, str]]:
    return [{"prompt": f"q{i}", "chosen": "yes", "rejected": "no"} for i in range(8)]


# ---- 2. plan rows for the width of a cluster job ----------------------------------------------


def wide(launcher: str, **resources: Any) -> ts.Job:
    return job(launcher, batch_size=64, micro_batch_size=1, resources=resources)


def test_ray_rows_say_ray_train_workers_counted_from_the_accelerators() -> None:
    pytest.importorskip("tunesdk_trl")
    plan = wide("ray", nodes=2, accelerators="A10G:4").plan("trl")
    processes, nodes = plan.row("resources.processes"), plan.row("resources.nodes")
    assert processes.native == "TorchTrainer ScalingConfig.num_workers"
    assert processes.native_value == 8 and nodes.native_value == 8
    assert "2 node(s) × 4 process(es)" in (processes.reason or "")
    assert "accelerators" in (processes.reason or "")
    assert "accelerate" not in str(nodes.native) + str(processes.native)
    assert not any(n.startswith("launched with accelerate") for n in plan.notes)
    scaling = plan.launcher_native["ray_train"]["TorchTrainer"]["scaling_config"]
    assert scaling["num_workers"] == processes.native_value  # the row is what is submitted
    options = [r.option for r in plan.rows]
    assert options.count("resources.processes") == 1 and options.count("resources.nodes") == 1


def test_ray_rows_for_one_process_name_the_entrypoint() -> None:
    pytest.importorskip("tunesdk_trl")
    plan = wide("ray").plan("trl")
    assert plan.row("resources.processes").native == "ray job entrypoint"
    assert plan.row("resources.nodes").native_value == "one node"


def test_ray_rows_counted_from_processes_say_so() -> None:
    pytest.importorskip("tunesdk_trl")
    row = wide("ray", processes=2).plan("trl").row("resources.processes")
    assert row.native_value == 2 and "from resources.processes" in (row.reason or "")


def test_skypilot_rows_say_num_nodes_times_the_ranks_each_node_starts() -> None:
    pytest.importorskip("tunesdk_trl")
    plan = wide("skypilot", nodes=2, accelerators="A10G:4").plan("trl")
    nodes, processes = plan.row("resources.nodes"), plan.row("resources.processes")
    assert (nodes.native, nodes.native_value) == ("num_nodes", 2)
    assert "SKYPILOT_NODE_RANK" in (nodes.reason or "")
    assert processes.native == "accelerate launch (torchrun) on each node"
    assert processes.native_value == "2 node(s) × 4 process(es) = 8 ranks"
    assert not any(n.startswith("launched with accelerate") for n in plan.notes)
    assert plan.launcher_native["num_nodes"] == 2


def test_skypilot_rows_for_a_torchrun_backend_count_the_nodes_gpus() -> None:
    pytest.importorskip("tunesdk_axolotl")
    row = (
        wide("skypilot", nodes=2, accelerators="A10G:4").plan("axolotl").row("resources.processes")
    )
    assert row.native == "torchrun --nproc_per_node=$SKYPILOT_NUM_GPUS_PER_NODE"
    assert row.native_value == "2 node(s) × 4 process(es) = 8 ranks"


def test_the_local_launcher_keeps_the_backends_accelerate_rows() -> None:
    pytest.importorskip("tunesdk_trl")
    plan = wide("local", nodes=1, processes=2).plan("trl")
    assert plan.row("resources.nodes").native == "accelerate_config.yaml: num_machines"
    assert any(n.startswith("launched with accelerate") for n in plan.notes)


# ---- 5. a stored job's redacted launcher secrets ------------------------------------------------

SECRET = "tok-0123456789abcdef"
SECRET_PATH = "launcher_options.ray.runtime_env.env_vars.HF_TOKEN"


@pytest.fixture
def stored_ray_run() -> Any:
    """A failed Ray run whose job had a secret in its runtime_env (the run folder has ``***``)."""
    from tunesdk.events import Failed
    from tunesdk.store import RunStore

    spec = job(
        "ray",
        launcher_options={
            "ray": {
                **RAY["ray"],
                "runtime_env": {"env_vars": {"HF_TOKEN": SECRET, "PLAIN": "kept"}},
            }
        },
    )
    record = RunStore().create(spec, spec.plan("simulated"), "simulated")
    record.emit(Failed(error="node lost"))
    return record


def test_resuming_a_stored_job_with_a_redacted_secret_is_refused_before_anything_is_sent(
    stored_ray_run: Any,
) -> None:
    from tunesdk.launchers import redacted_options
    from tunesdk.store import RunStore

    stored = RunStore().get(stored_ray_run.run_id).job
    assert redacted_options(stored) == [SECRET_PATH]
    assert stored.launcher_options["ray"]["runtime_env"]["env_vars"]["PLAIN"] == "kept"
    before = len(RunStore().list())
    with pytest.raises(JobError) as caught:
        ts.Run.submit(stored, "simulated", resume=stored_ray_run.run_id)
    error = caught.value
    assert error.where == SECRET_PATH and "'***'" in error.message
    assert f'tunesdk resume {stored_ray_run.run_id} --set {SECRET_PATH}="$HF_TOKEN"' in (
        error.fix or ""
    )
    assert len(RunStore().list()) == before  # no run was created


def test_cli_resume_refuses_then_takes_the_secret_again_with_set(
    stored_ray_run: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    from tests.launchers.test_launchers import invoke

    code, out = invoke(["resume", stored_ray_run.run_id], monkeypatch, capsys)
    assert code != 0 and "'***'" in out and "--set" in out, out
    code, out = invoke(
        ["resume", stored_ray_run.run_id, "--set", f"{SECRET_PATH}={SECRET}"], monkeypatch, capsys
    )
    # past the secrets check: the (absent) cluster is the next thing named, the secret is not
    assert code != 0 and "'***'" not in out and "127.0.0.1:1" in out, out
    assert SECRET not in out


# ---- 4. checkpoints follow the model to a storage URI ---------------------------------------------


def _tagged(text: str) -> list[Any]:
    from tunesdk.events import parse_event
    from tunesdk.launchers.ray_entry import TAG

    return [parse_event(line.split(TAG, 1)[1]) for line in text.splitlines() if TAG in line]


def test_the_relay_uploads_each_checkpoint_to_the_storage_uri(tmp_path: Path, capsys: Any) -> None:
    from tunesdk.events import Cancelled, Checkpoint, Progress
    from tunesdk.launchers.ray_entry import Relay
    from tunesdk.store import RunStore

    spec = job("ray")
    record = RunStore().create(spec, spec.plan("simulated"), "simulated")
    saved = record.outputs_dir / "checkpoints" / "checkpoint-2"
    saved.mkdir(parents=True)
    (saved / "trainer_state.json").write_text('{"global_step": 2}')
    bucket = tmp_path / "bucket"
    relay = Relay(record.dir, {"run_id": record.run_id, "storage_uri": f"file://{bucket}"})
    record.emit(Progress(step=2, total_steps=9))
    record.emit(Checkpoint(step=2, path=str(saved)))
    record.emit(Cancelled(checkpoint=str(saved)))
    relay.pump()
    events = _tagged(capsys.readouterr().out)
    uri = f"file://{bucket}/{record.run_id}/checkpoints/checkpoint-2"
    assert [type(e).__name__ for e in events][-3:] == ["Progress", "Checkpoint", "Cancelled"]
    checkpoint = next(e for e in events if isinstance(e, Checkpoint))
    assert checkpoint.path == uri and events[-1].checkpoint == uri
    uploaded = bucket / record.run_id / "checkpoints" / "checkpoint-2" / "trainer_state.json"
    assert uploaded.read_text() == '{"global_step": 2}'


def test_without_a_storage_uri_checkpoints_stay_where_they_are(capsys: Any) -> None:
    from tunesdk.events import Checkpoint
    from tunesdk.launchers.ray_entry import Relay
    from tunesdk.store import RunStore

    spec = job("ray")
    record = RunStore().create(spec, spec.plan("simulated"), "simulated")
    record.emit(Checkpoint(step=1, path="/shared/run/checkpoint-1"))
    Relay(record.dir, {"run_id": record.run_id}).pump()
    (event,) = [e for e in _tagged(capsys.readouterr().out) if isinstance(e, Checkpoint)]
    assert event.path == "/shared/run/checkpoint-1"


def test_a_checkpoint_at_a_uri_is_copied_onto_the_node_to_resume_from(tmp_path: Path) -> None:
    from tunesdk.launchers.ray_bundle import stage
    from tunesdk.launchers.ray_entry import materialize
    from tunesdk.store import RunRecord, RunStore

    bucket = tmp_path / "bucket" / "old-run" / "checkpoints" / "checkpoint-4"
    bucket.mkdir(parents=True)
    (bucket / "trainer_state.json").write_text('{"global_step": 4}')
    spec = job("ray")
    record = RunStore().create(spec, spec.plan("simulated"), "simulated")
    uri = f"file://{bucket}"
    bundle = stage(
        record,
        {
            "run_id": record.run_id,
            "backend": "simulated",
            "output_dir": None,
            "backend_state": {"resume_from": uri},
        },
        [],
    )
    folder = materialize(bundle)
    resume_from = RunRecord(folder).state["resume_from"]
    assert not resume_from.startswith("file://")
    assert Path(resume_from).name == "checkpoint-4"
    assert (Path(resume_from) / "trainer_state.json").read_text() == '{"global_step": 4}'


def test_ray_refuses_processes_that_disagree_with_the_accelerators_per_node() -> None:
    with pytest.raises(JobError, match="one accelerator") as caught:
        wide("ray", processes=2, accelerators="A10G:4").plan("simulated")
    assert caught.value.where == "resources.processes" and "set it to 4" in (caught.value.fix or "")
    plan = wide("ray", processes=4, accelerators="A10G:4").plan("simulated")
    assert plan.launcher_native["ray_train"]["TorchTrainer"]["scaling_config"]["num_workers"] == 4
