"""The launcher layer without a cluster: job fields, plans, the registry, the CLI, the Ray
launcher's errors before anything starts, its bundle, and its log relay against a fake client."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest

import tunesdk as ts
from tunesdk import cli
from tunesdk.errors import JobError, UnsupportedOption
from tunesdk.events import Cancelled, Completed, Failed, Log, Progress, StatusChanged
from tunesdk.follow import poll_once
from tunesdk.launchers import Launcher, LauncherUnavailable, get_launcher, launchers
from tunesdk.launchers.local import LocalLauncher
from tunesdk.launchers.ray import RayLauncher, accelerator_spec, same_machine
from tunesdk.launchers.ray_bundle import stage
from tunesdk.launchers.ray_entry import TAG
from tunesdk.store import RunStore
from tunesdk.testing import tiny_chat_data

ROWS = tiny_chat_data(8)


@pytest.fixture(autouse=True)
def _home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TUNESDK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


def job(**fields: Any) -> ts.Job:
    return ts.Job(**{"model": "org/base", "data": ROWS, "max_steps": 2, **fields})


def ray(address: str = "http://127.0.0.1:1", resources: Any = None, **options: Any) -> Any:
    """Job fields for the Ray launcher at ``address`` (``resources``: more resources fields)."""
    return {
        "resources": {"launcher": "ray", **(resources or {})},
        "launcher_options": {"ray": {"address": address, **options}},
    }


# ---- job fields and plans ------------------------------------------------------------------------


def test_the_default_launcher_is_local_and_the_plan_says_so() -> None:
    plan = job().plan("simulated")
    assert plan.launcher == "local" and plan.launcher_native == {}
    row = plan.row("resources.launcher")
    assert (row.value, row.status, row.user_set) == ("local", "defaulted", False)
    assert plan.row("resources.accelerators").status == "defaulted"


def test_launcher_shortcut_sets_resources_launcher() -> None:
    shortcut = job().with_launcher("ray")
    assert shortcut.resources.launcher == "ray"
    assert "resources.launcher" in shortcut.options_set()
    assert job().plan("simulated", launcher="ray").launcher == "ray"


def test_the_local_launcher_drops_cluster_fields_and_strict_refuses_them() -> None:
    spot = job(resources={"spot": True, "accelerators": "H100:8"})
    plan = spot.plan("simulated")
    assert plan.row("resources.spot").status == "dropped"
    assert plan.row("resources.accelerators").status == "dropped"
    assert any(w.startswith("resources.spot=true is ignored") for w in plan.warnings())
    with pytest.raises(UnsupportedOption, match=r"resources\.spot"):
        job(resources={"spot": True}, strict=True).plan("simulated")


def test_a_managed_backend_refuses_a_cluster_launcher() -> None:
    pytest.importorskip("tunesdk_openai")
    with pytest.raises(JobError, match="managed provider") as refused:
        job(model="gpt-4.1-mini-2025-04-14", **ray()).plan("openai")
    assert refused.value.where == "resources.launcher"


def test_an_unknown_launcher_gets_a_did_you_mean() -> None:
    with pytest.raises(JobError, match="did you mean 'ray'"):
        job(resources={"launcher": "rya"}).plan("simulated")


def test_an_unknown_launcher_option_names_the_known_ones() -> None:
    with pytest.raises(JobError, match="did you mean 'address'") as refused:
        job(resources={"launcher": "ray"}, launcher_options={"ray": {"adress": "x"}}).plan(
            "simulated"
        )
    assert refused.value.where == "launcher_options.ray.adress"


def test_launcher_options_must_sit_under_a_launcher_name() -> None:
    with pytest.raises(ValueError, match="must sit under a launcher name"):
        job(launcher_options={"address": "http://h:8265"})


def test_launcher_option_secrets_stay_out_of_reprs_plans_and_the_run_folder() -> None:
    secret = "tok-0123456789abcdef"
    spec = job(**ray(runtime_env={"env_vars": {"HF_TOKEN": secret}}))
    assert secret not in repr(spec)
    plan = spec.plan("simulated")
    assert secret not in plan.model_dump_json()
    record = RunStore().create(spec, plan, "simulated")
    assert secret not in (record.dir / "job.json").read_text()


def test_the_ray_plan_maps_width_onto_the_submission_and_ray_train() -> None:
    one = job(**ray(resources={"accelerators": "A10G:1"})).plan("simulated")
    native = one.launcher_native
    assert native["entrypoint_num_gpus"] == 1
    assert native["entrypoint_resources"] == {"accelerator_type:A10G": 0.001}
    assert "ray_train" not in native
    assert one.row("resources.accelerators").native == "entrypoint_num_gpus"
    wide = job(
        **ray(resources={"accelerators": "H100:8", "nodes": 2, "cloud": "aws"}), batch_size=16
    ).plan("simulated")
    scaling = wide.launcher_native["ray_train"]["TorchTrainer"]["scaling_config"]
    assert scaling == {
        "num_workers": 16,
        "use_gpu": True,
        "resources_per_worker": {"CPU": 1.0, "GPU": 1.0},
        "accelerator_type": "H100",
    }
    assert wide.launcher_native["entrypoint_num_cpus"] == 0
    cloud = wide.row("resources.cloud")
    assert cloud.status == "dropped" and "skypilot" in (cloud.reason or "")
    assert any("16 Ray Train workers" in note for note in wide.notes)


@pytest.mark.parametrize("value", ["H100:x", "H100:0", ":2"])
def test_bad_accelerators_are_a_job_error(value: str) -> None:
    with pytest.raises(JobError, match="accelerators") as refused:
        accelerator_spec(value)
    assert refused.value.where == "resources.accelerators"


def test_same_machine_is_a_loopback_address() -> None:
    assert same_machine("http://127.0.0.1:8265") and same_machine("localhost:8265")
    assert same_machine("auto")
    assert not same_machine("http://10.0.0.5:8265") and not same_machine("")


# ---- the registry and the CLI --------------------------------------------------------------------


class _Recording(LocalLauncher):
    """A third-party launcher: the local child process, and a note of each launch."""

    name: ClassVar[str] = "recording"
    launched: ClassVar[list[str]] = []

    def launch(self, backend: Any, run: Any) -> None:
        self.launched.append(run.run_id)
        super().launch(backend, run)


def test_a_registered_launcher_runs_jobs_and_is_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    from tunesdk.launchers import registry

    monkeypatch.setattr(registry, "_registered", {"recording": _Recording})
    monkeypatch.setattr(registry, "_instances", {})
    names = {info.name: info for info in launchers()}
    assert names["recording"].usable and names["local"].usable
    assert names["recording"].origin.endswith(":_Recording")
    result = job(backend_options={"simulated": {"step_seconds": 0}}).run(
        "simulated", launcher="recording", progress=False
    )
    assert _Recording.launched == [result.run_id]
    assert ts.Run.attach(result.run_id).record.state["launcher"] == "recording"


def test_every_builtin_launcher_is_a_launcher() -> None:
    for name in ("local", "ray"):
        assert isinstance(get_launcher(name), Launcher)


def invoke(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: Any) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["tunesdk", *args])
    for console in (cli.out, cli.err):
        monkeypatch.setattr(console, "_width", 300)
    try:
        cli.main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_cli_lists_launchers_and_plans_with_one(
    monkeypatch: pytest.MonkeyPatch, capsys: Any, tmp_path: Path
) -> None:
    code, out = invoke(["launchers"], monkeypatch, capsys)
    assert code == 0 and "local" in out and "ray" in out
    spec = tmp_path / "job.yaml"
    job(launcher_options={"ray": {"address": "http://127.0.0.1:1"}}).to_yaml(spec)
    target = tmp_path / "submission.json"
    code, out = invoke(
        ["plan", str(spec), "-b", "simulated", "--launcher", "ray", "-o", str(target)],
        monkeypatch,
        capsys,
    )
    assert code == 0, out
    written = json.loads(target.read_text())
    assert written["entrypoint"] == "python -m tunesdk.launchers.ray_entry"
    assert "launcher: ray" in out and "resources.launcher" in out


# ---- the Ray launcher refuses before anything starts ---------------------------------------------


def test_no_ray_address_is_unavailable_with_the_fix() -> None:
    pytest.importorskip("ray")
    spec = job(resources={"launcher": "ray"})
    with pytest.raises(LauncherUnavailable, match="no Ray cluster address") as refused:
        spec.submit("simulated")
    assert "RAY_ADDRESS" in (refused.value.fix or "")
    assert RunStore().list() == []


def test_an_unreachable_address_is_named_before_any_run_is_created() -> None:
    pytest.importorskip("ray.job_submission")
    import socket

    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    address = f"http://127.0.0.1:{port}"
    with pytest.raises(LauncherUnavailable, match=f"no Ray cluster answers at {address}"):
        job(**ray(address)).submit("simulated")
    assert RunStore().list() == []


def test_a_remote_cluster_without_storage_is_refused_without_contacting_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("ray")

    def never(self: Any, address: str) -> None:
        raise AssertionError(f"contacted {address}")

    monkeypatch.setattr(RayLauncher, "client", never)
    with pytest.raises(JobError, match="not on this machine") as refused:
        job(**ray("http://ray-head.example:8265")).submit("simulated")
    assert refused.value.where == "launcher_options.ray.storage"
    assert "s3://" in (refused.value.fix or "")
    assert RunStore().list() == []


def test_data_only_on_this_disk_and_too_big_to_ship_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("ray")
    monkeypatch.setattr(RayLauncher, "client", lambda self, address: None)
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS * 20))
    with pytest.raises(JobError, match="exists only on this disk") as refused:
        job(data=str(data), **ray(max_ship_mb=0.001)).submit("simulated")
    assert refused.value.where == "job.data" and "shared_paths" in (refused.value.fix or "")
    shared = job(data=str(data), **ray(max_ship_mb=0.001, shared_paths=[str(tmp_path)]))
    RayLauncher().preflight(shared, shared.plan("simulated"), None)  # type: ignore[arg-type]


# ---- the bundle ----------------------------------------------------------------------------------


def test_the_bundle_ships_local_files_and_rewrites_their_paths(tmp_path: Path) -> None:
    model = tmp_path / "base"
    model.mkdir()
    (model / "config.json").write_text("{}")
    template = tmp_path / "chat.jinja"
    template.write_text("{{ messages }}")
    shared = tmp_path / "shared"
    shared.mkdir()
    eval_file = shared / "eval.jsonl"
    eval_file.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    spec = job(model=str(model), eval_data=str(eval_file), chat_template=str(template), **ray())
    record = RunStore().create(spec, spec.plan("simulated"), "simulated")
    bundle = stage(record, {"run_id": record.run_id, "output_dir": "/out"}, [str(shared)])
    stored = json.loads((bundle / "job.json").read_text())
    assert stored["model"] == "./files/model/base"
    assert (bundle / "files/model/base/config.json").is_file()
    assert stored["data"] == ROWS  # rows given in memory travel inside job.json
    assert stored["chat_template"] == "./files/chat_template/chat.jinja"
    assert stored["eval_data"] == str(eval_file)  # under a shared path: not shipped
    assert stored["resources"]["launcher"] == "local" and "launcher_options" not in stored
    assert stored["output_dir"] == "/out"
    rebuilt = ts.Job.from_dict(stored, base_dir=bundle)
    assert Path(rebuilt.model_name).is_dir()
    assert json.loads((bundle / "tunesdk_run.json").read_text())["original"]["model"] == str(model)


# ---- the log relay, against a fake Ray client ----------------------------------------------------


class FakeRay:
    """What the launcher asks of JobSubmissionClient: a job's status, log and info."""

    def __init__(self) -> None:
        self.status = "RUNNING"
        self.log = ""
        self.message = ""
        self.stopped: list[str] = []

    def get_job_status(self, submission_id: str) -> str:
        return self.status

    def get_job_logs(self, submission_id: str) -> str:
        return self.log

    def get_job_info(self, submission_id: str) -> Any:
        return type("Info", (), {"message": self.message})()

    def stop_job(self, submission_id: str) -> bool:
        self.stopped.append(submission_id)
        return True

    def emit(self, *events: Any, prefix: str = "") -> None:
        for seq, event in enumerate(events, start=self.log.count(TAG) + 1):
            self.log += prefix + TAG + event.model_copy(update={"seq": seq}).to_json() + "\n"


@pytest.fixture
def relayed(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A run of the Ray launcher whose cluster is `FakeRay` (every launcher instance shares it)."""
    fake = FakeRay()
    monkeypatch.setattr(RayLauncher, "client", lambda self, address: fake)
    from tunesdk.registry import get_backend

    spec = job(**ray())
    record = RunStore().create(spec, spec.plan("simulated"), "simulated")
    record.update_state(launcher="ray", ray_address="http://127.0.0.1:1", ray_submission_id="s1")
    return fake, record, get_backend("simulated")


def test_relayed_events_land_once_across_repolls_and_a_reattach(relayed: Any) -> None:
    fake, record, backend = relayed
    fake.log = "2026-12-02 INFO job_manager.py -- Runtime env is setting up.\n"
    fake.emit(StatusChanged(status="running"), Progress(step=1, total_steps=2))
    poll_once(record, backend)
    poll_once(record, backend)  # the same log again: nothing new
    fake.log += TAG + '{"type": "progress", "step": 2'  # a line still being written
    poll_once(record, backend)
    assert [type(e) for e in record.events()] == [StatusChanged, Progress]
    fake.log = fake.log.rsplit(TAG, 1)[0]
    fake.emit(Progress(step=2, total_steps=2), prefix="(RayTrainWorker pid=7) ")
    from tunesdk.launchers import registry

    registry._instances.pop("ray", None)  # a fresh process: no memory of the last offset
    poll_once(record, backend)
    fake.emit(Completed(model=ts.LocalModel(path="/m", base_model="b")))
    fake.status = "SUCCEEDED"
    poll_once(record, backend)
    events = record.events()
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert [getattr(e, "step", None) for e in events] == [None, 1, 2, None]
    assert isinstance(events[-1], Completed) and record.status == "completed"
    assert "Runtime env is setting up" in record.worker_log.read_text()  # the rest of the log


def test_a_ray_job_that_failed_without_its_event_ends_failed_with_rays_message(
    relayed: Any,
) -> None:
    fake, record, backend = relayed
    fake.emit(StatusChanged(status="running"))
    fake.status, fake.message = "FAILED", "Job entrypoint command failed with exit code 137"
    poll_once(record, backend)
    final = record.events()[-1]
    assert isinstance(final, Failed) and "exit code 137" in final.error
    assert final.error_type == "RayJobFailed"


def test_cancel_stops_the_ray_job_and_a_stopped_job_ends_cancelled(relayed: Any) -> None:
    fake, record, backend = relayed
    run = ts.Run.attach(record.run_id)
    run.cancel(wait=False)
    assert fake.stopped == ["s1"] and record.should_stop()
    fake.status = "STOPPED"
    poll_once(record, backend)
    assert isinstance(record.events()[-1], Cancelled) and record.status == "cancelled"


def test_the_overfitting_warning_is_not_relayed_twice(relayed: Any) -> None:
    fake, record, backend = relayed
    fake.emit(Log(level="warning", message="eval loss rose: the model may be overfitting"))
    poll_once(record, backend)
    assert record.events() == []


def test_ray_train_runs_as_many_ranks_as_the_backend_splits_the_batch_over() -> None:
    pytest.importorskip("tunesdk_trl")
    # 4 GPUs per node from accelerators alone: 4 ranks per node for the backend and for Ray
    spec = job(
        **ray(resources={"accelerators": "H100:4", "nodes": 2}), batch_size=32, micro_batch_size=2
    )
    plan = spec.plan("trl")
    scaling = plan.launcher_native["ray_train"]["TorchTrainer"]["scaling_config"]
    assert scaling["num_workers"] == 8
    assert plan.native["config"]["gradient_accumulation_steps"] == 32 // (2 * 8)


def test_a_job_left_pending_is_noted_once(relayed: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from tunesdk.launchers import ray as ray_module

    fake, record, backend = relayed
    fake.status = "PENDING"
    poll_once(record, backend)
    assert record.events() == []  # not yet: a cluster takes a moment to schedule
    monkeypatch.setattr(ray_module, "PENDING_NOTE_S", 0.0)
    poll_once(record, backend)
    poll_once(record, backend)
    (note,) = record.events()
    assert (
        isinstance(note, Log)
        and "pending" in note.message
        and "entrypoint_num_cpus" in note.message
    )


def test_a_final_event_repeated_by_the_driver_lands_once(
    relayed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tunesdk.launchers import ray as ray_module

    fake, record, backend = relayed
    downloads: list[str] = []
    monkeypatch.setattr(ray_module, "download", lambda uri, target: downloads.append(uri))
    fake.emit(StatusChanged(status="running"))
    done = Completed(model=ts.LocalModel(path="file:///bucket/run/model"), seq=2)
    line = TAG + done.to_json() + "\n"
    fake.log += "(RayTrainWorker pid=9) " + line + line  # forwarded from rank 0, then the driver's
    fake.status = "SUCCEEDED"
    poll_once(record, backend)
    events = record.events()
    assert [type(e) for e in events] == [StatusChanged, Completed]
    assert downloads == ["file:///bucket/run/model"]
    assert events[-1].model.path == str(record.outputs_dir / "model")  # type: ignore[union-attr]


def test_a_cluster_away_for_a_while_is_one_warning_and_a_lost_job_ends_failed(
    relayed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, record, backend = relayed

    def away(submission_id: str) -> str:
        raise ConnectionError("Connection refused")

    monkeypatch.setattr(fake, "get_job_status", away)
    assert poll_once(record, backend) == ([], False)
    assert poll_once(record, backend) == ([], False)
    (warning,) = record.events()  # once per distinct problem, until a poll succeeds
    assert isinstance(warning, Log) and "did not answer" in warning.message

    def lost(submission_id: str) -> str:
        raise RuntimeError("Request failed with status code 404: Job s1 does not exist.")

    monkeypatch.setattr(fake, "get_job_status", lost)
    poll_once(record, backend)
    final = record.events()[-1]
    assert isinstance(final, Failed) and final.error_type == "RayJobLost"
    assert record.status == "failed"
