"""check(), BackendUnavailable paths, the launch command, preflight and model operations."""

from __future__ import annotations

from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk.errors import BackendUnavailable, JobError
from tunesdk.registry import get_backend
from tunesdk.testing import tiny_chat_data
from tunesdk_axolotl import AxolotlBackend, backend, launch, schema


def test_registered_under_its_entry_point() -> None:
    assert isinstance(get_backend("axolotl"), AxolotlBackend)
    assert not AxolotlBackend.capabilities.needs_gpu  # it trains on CPUs too (kernels off)


def test_check_without_axolotl_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schema, "axolotl_installed", lambda: False)
    check = AxolotlBackend().check()
    assert not check.usable
    assert check.reason == "axolotl is not installed"
    assert "tunesdk engine install axolotl" in str(check.fix)
    assert "pip install 'tunesdk-axolotl[axolotl]'" in str(check.fix)


def test_check_without_a_gpu_says_axolotl_trains_on_the_cpu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(schema, "axolotl_installed", lambda: True)
    monkeypatch.setattr(backend.importlib.metadata, "version", lambda name: "0.19.0")
    monkeypatch.setattr(backend, "cuda_available", lambda: False)
    check = AxolotlBackend().check()
    assert check.usable and check.reason == backend.CPU_NOTE


def test_submit_on_this_cpu_machine_is_refused_before_anything_runs(tmp_path: Path) -> None:
    if schema.axolotl_installed():
        pytest.skip("this machine can train with axolotl")
    job = ts.Job(model="m", data=tiny_chat_data(4))
    with pytest.raises(BackendUnavailable, match="axolotl"):
        job.submit(backend="axolotl")
    assert not list((tmp_path / "home").glob("runs/*"))  # no run folder was made


def test_plan_works_without_axolotl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schema, "axolotl_installed", lambda: False)
    assert ts.Job(model="m", data=tiny_chat_data(4)).plan("axolotl").native["base_model"] == "m"


def test_command_override_is_usable_and_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(launch.COMMAND_ENV, "/opt/axo env/bin/axolotl --flag")
    assert AxolotlBackend().check().usable
    job = ts.Job(model="m", data=tiny_chat_data(4))
    assert launch.train_command(job, Path("/r/axolotl.yml")) == [
        "/opt/axo",
        "env/bin/axolotl",
        "--flag",
        "train",
        "/r/axolotl.yml",
        "--launcher",
        "python",
    ]
    monkeypatch.setenv(launch.COMMAND_ENV, "'/opt/axo env/bin/axolotl'")
    assert launch.axolotl_executable() == ["/opt/axo env/bin/axolotl"]


def test_missing_axolotl_command_is_backend_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(launch.shutil, "which", lambda name: None)
    monkeypatch.setattr(schema, "axolotl_installed", lambda: False)
    monkeypatch.setattr(launch.sys, "executable", "/nowhere/python")
    with pytest.raises(BackendUnavailable, match="axolotl command is not installed"):
        launch.axolotl_executable()


@pytest.mark.parametrize(
    ("resources", "tail"),
    [
        ({"processes": 2}, ["--launcher", "accelerate", "--", "--num_processes", "2"]),
        (
            {"processes": 4, "nodes": 2, "strategy": "fsdp"},
            ["--launcher", "accelerate", "--", "--num_processes", "8", "--num_machines", "2"],
        ),
        ({"strategy": "deepspeed"}, ["--launcher", "accelerate", "--", "--num_processes", "1"]),
    ],
)
def test_several_processes_launch_through_accelerate(
    resources: dict[str, object], tail: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(launch.COMMAND_ENV, "axolotl")
    job = ts.Job(model="m", data=tiny_chat_data(4), batch_size=8, resources=resources)
    assert launch.train_command(job, Path("c.yml")) == ["axolotl", "train", "c.yml", *tail]


def test_preflight_refuses_a_missing_local_model() -> None:
    job = ts.Job(model="./no/such/model", data=tiny_chat_data(4))
    with pytest.raises(JobError, match="no model at"):
        AxolotlBackend().preflight(job, job.plan("axolotl"))


def test_preflight_refuses_unknown_keys_with_axolotl_installed(
    monkeypatch: pytest.MonkeyPatch, tiny_model_path: Path
) -> None:
    job = ts.Job(
        model=str(tiny_model_path),
        data=tiny_chat_data(4),
        backend_options={"axolotl": {"lora_rr": 8}},
    )
    monkeypatch.setattr(schema, "axolotl_installed", lambda: True)
    monkeypatch.setattr(
        schema, "schema_fields", lambda: set(job.plan("axolotl").native) - {"lora_rr"}
    )
    with pytest.raises(JobError, match="lora_rr"):
        AxolotlBackend().preflight(job, job.plan("axolotl"))


def test_model_operations_need_the_trl_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> None:
        raise BackendUnavailable(name, "not installed", fix="pip install tunesdk-trl")

    monkeypatch.setattr("tunesdk.registry.get_backend", missing)
    model = ts.LocalModel(path="/x", kind="adapter", engine="axolotl")
    with pytest.raises(BackendUnavailable, match="use the trl backend") as info:
        AxolotlBackend().chat(model, [{"role": "user", "content": "hi"}])
    assert "tunesdk-axolotl[inference]" in str(info.value.fix)


def test_bad_data_is_refused_before_launch(tmp_path: Path, tiny_model_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    job = ts.Job(model=str(tiny_model_path), data=str(bad))
    plan = job.plan("axolotl")
    with pytest.raises(ts.DataError, match=r"bad\.jsonl"):
        AxolotlBackend().preflight(job, plan)


def test_secrets_in_backend_options_stay_out_of_the_plan() -> None:
    job = ts.Job(
        model="m",
        data=tiny_chat_data(4),
        backend_options={"axolotl": {"comet_api_key": "sk-live-123", "use_comet": True}},
    )
    plan = job.plan("axolotl")
    assert plan.native["comet_api_key"] == "***"
    assert "sk-live-123" not in plan.model_dump_json()
