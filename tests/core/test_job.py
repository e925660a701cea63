"""Job validation, defaults and file round trips."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk.errors import JobError


def test_qlora_bits_must_be_4_or_8() -> None:
    with pytest.raises(JobError) as info:
        ts.QLoRA(bits=3)
    text = str(info.value)
    assert "bits" in text
    assert "bits=4" in (info.value.fix or "")


def test_batch_size_must_be_a_multiple_of_micro_batch_size(
    make_job: Callable[..., ts.Job],
) -> None:
    with pytest.raises(JobError) as info:
        make_job(batch_size=6, micro_batch_size=4)
    text = str(info.value)
    assert "micro_batch_size" in text and "batch_size=6" in text
    # model-level errors carry no field, so the fix is in the message itself
    assert "make batch_size a multiple of micro_batch_size (e.g. micro_batch_size=3)" in text


def test_epochs_zero_is_rejected_with_fix(make_job: Callable[..., ts.Job]) -> None:
    with pytest.raises(JobError) as info:
        make_job(epochs=0)
    assert "epochs" in str(info.value)
    assert "(got 0)" in str(info.value)
    assert "≥ 1" in (info.value.fix or "")


def test_negative_learning_rate_is_rejected_with_fix(make_job: Callable[..., ts.Job]) -> None:
    with pytest.raises(JobError) as info:
        make_job(learning_rate=-1)
    assert "learning_rate" in str(info.value)
    assert "2e-4" in (info.value.fix or "")


def test_unknown_key_suggests_the_right_name(data_file: Path) -> None:
    with pytest.raises(JobError) as info:
        ts.Job.from_dict({"model": "m", "data": str(data_file), "learning_rat": 1e-4})
    assert "learning_rat" in str(info.value)
    assert "did you mean 'learning_rate'?" in str(info.value)


def test_unknown_method_key_suggests_the_right_name() -> None:
    with pytest.raises(JobError, match="did you mean 'dropout'"):
        ts.LoRA.parse({"r": 8, "dropuot": 0.1})


@pytest.mark.parametrize("r", [4, 16, 64])
def test_lora_alpha_defaults_to_twice_r(r: int) -> None:
    assert ts.LoRA(r=r).alpha == 2 * r
    assert ts.QLoRA(r=r).alpha == 2 * r
    assert ts.LoRA(r=r, alpha=7).alpha == 7


def test_learning_rate_defaults_follow_the_method(make_job: Callable[..., ts.Job]) -> None:
    assert make_job().effective_learning_rate == 2e-4
    assert make_job(method=ts.QLoRA()).effective_learning_rate == 2e-4
    assert make_job(method=ts.Full()).effective_learning_rate == 2e-5
    assert make_job(method=ts.Full(), learning_rate=1e-5).effective_learning_rate == 1e-5


def test_gradient_accumulation_steps(make_job: Callable[..., ts.Job]) -> None:
    assert make_job(batch_size=32, micro_batch_size=4).gradient_accumulation_steps == 8
    assert make_job(batch_size=8).gradient_accumulation_steps == 1


def test_yaml_and_json_round_trip(make_job: Callable[..., ts.Job], tmp_path: Path) -> None:
    job = make_job(
        method=ts.QLoRA(r=8, target_modules=["q_proj", "v_proj"]),
        epochs=2,
        batch_size=16,
        micro_batch_size=4,
        report_to=["tensorboard"],
        resources=ts.Resources(processes=2, strategy="ddp"),
        backend_options={"simulated": {"step_seconds": 0.01}},
    )
    assert ts.Job.from_yaml(job.to_yaml()) == job
    path = tmp_path / "job.json"
    job.to_json(path)
    assert ts.Job.from_json(path) == job
    assert json.loads(path.read_text())["method"]["kind"] == "qlora"


def test_relative_data_path_resolves_against_the_job_file(
    tmp_path: Path, data_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "jobs"
    folder.mkdir()
    (folder / "train.jsonl").write_text(data_file.read_text())
    (folder / "job.yaml").write_text("model: tiny/model\ndata: train.jsonl\n")
    monkeypatch.chdir(tmp_path)  # somewhere without a train.jsonl of its own next to jobs/
    job = ts.Job.from_yaml(folder / "job.yaml")
    assert Path(job.data) == folder / "train.jsonl"


def test_job_is_frozen(make_job: Callable[..., ts.Job]) -> None:
    job = make_job()
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises its own ValidationError
        job.epochs = 3  # type: ignore[misc]
