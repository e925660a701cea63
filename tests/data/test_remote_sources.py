"""A bucket URI as data: this machine never reads it, and says what to do instead."""

from __future__ import annotations

import pytest

import tunesdk as ts
from tunesdk.errors import DataError


@pytest.mark.parametrize("uri", ["s3://bucket/train.jsonl", "gs://b/x.jsonl", "hf://datasets/a/b"])
def test_reading_a_uri_names_it_and_the_fix(uri: str) -> None:
    with pytest.raises(DataError) as caught:
        ts.Dataset.load(uri).kind  # noqa: B018 (reading is the point)
    assert caught.value.where == uri
    assert "not read on this machine" in str(caught.value)
    assert "objective" in (caught.value.fix or "")


def test_a_plain_missing_path_keeps_its_message(tmp_path) -> None:
    with pytest.raises(DataError, match="no such file or directory"):
        ts.Dataset.load(str(tmp_path / "missing.jsonl")).kind  # noqa: B018


def test_a_skypilot_job_with_bucket_data_plans_once_the_objective_is_set() -> None:
    job = ts.Job(
        model="Qwen/Qwen2.5-0.5B-Instruct",
        data="s3://bucket/train.jsonl",
        resources={"launcher": "skypilot", "accelerators": "H100:1"},
        launcher_options={"skypilot": {"outputs": "s3://bucket/out"}},
    )
    with pytest.raises(DataError, match="not read on this machine"):
        job.plan("trl")
    plan = job.with_overrides({"objective": "sft"}).plan("trl")
    assert plan.objective == "sft"
