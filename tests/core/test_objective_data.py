"""Data that does not suit the objective fails in plan and submit, on every backend, before any
worker starts or anything is uploaded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk.errors import BackendUnavailable, DataError
from tunesdk.store import RunStore

SFT_ROWS = [
    {
        "messages": [
            {"role": "user", "content": f"What is {i} + {i}?"},
            {"role": "assistant", "content": str(2 * i)},
        ]
    }
    for i in range(12)
]
DPO_ROWS = [
    {"prompt": f"What is {i} + {i}?", "chosen": str(2 * i), "rejected": str(2 * i + 1)}
    for i in range(12)
]
BACKENDS = ["simulated", "trl", "unsloth", "axolotl", "openai", "together", "fireworks"]


def _write(path: Path, rows: list[dict[str, object]]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return str(path)


def _plan_or_skip(job: ts.Job, backend: str) -> None:
    try:
        ts.get_backend(backend)
    except BackendUnavailable:
        pytest.skip(f"{backend} is not installed")
    job.plan(backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("rows", "objective", "message"),
    [
        (DPO_ROWS, "sft", "objective is sft, but the data is preference pairs"),
        (SFT_ROWS, "dpo", "objective is dpo, but the data is openai_chat"),
    ],
    ids=["sft-on-preference-pairs", "dpo-on-sft-data"],
)
def test_an_objective_the_data_does_not_fit_fails_in_plan(
    tmp_path: Path, backend: str, rows: list[dict[str, object]], objective: str, message: str
) -> None:
    data = _write(tmp_path / "train.jsonl", rows)
    job = ts.Job(model="Qwen/Qwen2.5-0.5B", data=data, objective=objective)
    with pytest.raises(DataError, match=message):
        _plan_or_skip(job, backend)


def test_submit_fails_before_a_run_exists(tmp_path: Path) -> None:
    job = ts.Job(model="tiny/model", data=_write(tmp_path / "p.jsonl", DPO_ROWS), objective="sft")
    with pytest.raises(DataError) as info:
        job.submit("simulated")
    assert "set `objective: dpo`" in str(info.value)
    assert RunStore().list() == []


def test_eval_data_must_suit_the_inferred_objective(tmp_path: Path) -> None:
    job = ts.Job(
        model="tiny/model",
        data=_write(tmp_path / "p.jsonl", DPO_ROWS),
        eval_data=_write(tmp_path / "c.jsonl", SFT_ROWS),
    )
    with pytest.raises(DataError, match=r"^job\.eval_data \(.*c\.jsonl\): objective is dpo"):
        job.plan("simulated")


def test_the_mismatch_names_its_field_once(tmp_path: Path) -> None:
    job = ts.Job(model="tiny/model", data=_write(tmp_path / "p.jsonl", DPO_ROWS), objective="sft")
    with pytest.raises(DataError) as info:
        job.plan("simulated")
    assert str(info.value).startswith("job.data (") and "data: objective" not in str(info.value)


def test_validate_reports_the_mismatch_once(tmp_path: Path) -> None:
    report = ts.Dataset.load(_write(tmp_path / "p.jsonl", DPO_ROWS)).validate(objective="sft")
    assert not report.ok
    assert [p.field for p in report.errors] == ["objective"]


def test_matching_data_plans(tmp_path: Path) -> None:
    ts.Job(model="tiny/model", data=_write(tmp_path / "p.jsonl", DPO_ROWS), objective="dpo").plan(
        "simulated"
    )
    ts.Job(model="tiny/model", data=[{"text": "plain text"}], objective="sft").plan("simulated")
