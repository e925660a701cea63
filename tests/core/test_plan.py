"""Plans on the simulated backend: every option has a row, dropped options and strict mode."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import tunesdk as ts
from tunesdk.backend import job_options
from tunesdk.errors import UnsupportedOption
from tunesdk.store import RunStore


def test_every_option_has_exactly_one_row(make_job: Callable[..., ts.Job]) -> None:
    job = make_job(method=ts.QLoRA(r=8))
    plan = job.plan("simulated")
    options = [row.option for row in plan.rows]
    assert len(options) == len(set(options))
    assert set(job_options(job, plan.objective)) <= set(options)
    assert {"method.r", "method.bits", "method.alpha", "resources.processes"} <= set(options)
    assert plan.backend == "simulated" and plan.kind == "local" and plan.objective == "sft"


def test_user_set_options_are_mapped(make_job: Callable[..., ts.Job]) -> None:
    plan = make_job(epochs=2, learning_rate=1e-4, method=ts.LoRA(r=4)).plan("simulated")
    assert plan.row("epochs").status == "mapped" and plan.row("epochs").user_set
    assert plan.row("learning_rate").value == 1e-4
    assert plan.row("method.r").value == 4
    assert plan.row("method.alpha").value == 8
    assert plan.dropped == []


@pytest.mark.parametrize(
    ("option", "value"), [("report_to", ["wandb"]), ("packing", True), ("weight_decay", 0.1)]
)
def test_unsupported_user_option_is_dropped(
    make_job: Callable[..., ts.Job], option: str, value: object
) -> None:
    plan = make_job(**{option: value}).plan("simulated")
    row = plan.row(option)
    assert row.status == "dropped" and row.user_set
    assert row.reason and "simulated" in row.reason
    assert [r.option for r in plan.dropped] == [option]
    assert f"*{option}" in plan.render()


def test_unset_unsupported_option_is_not_reported_as_dropped(
    make_job: Callable[..., ts.Job],
) -> None:
    plan = make_job().plan("simulated")
    assert plan.row("packing").status == "defaulted"
    assert not plan.row("packing").user_set
    assert plan.dropped == []


def test_strict_mode_raises_naming_every_dropped_option(make_job: Callable[..., ts.Job]) -> None:
    job = make_job(report_to=["wandb"], packing=True, strict=True)
    with pytest.raises(UnsupportedOption) as info:
        job.plan("simulated")
    assert set(info.value.options) == {"report_to", "packing"}
    assert "strict: false" in (info.value.fix or "")


def test_strict_mode_raises_before_a_run_is_created(
    make_job: Callable[..., ts.Job],
) -> None:
    job = make_job(packing=True, strict=True)
    with pytest.raises(UnsupportedOption):
        job.submit("simulated")
    assert RunStore().list() == []  # nothing was launched


def test_strict_job_without_dropped_options_plans(make_job: Callable[..., ts.Job]) -> None:
    assert make_job(strict=True, epochs=2).plan("simulated").dropped == []


def test_secret_backend_option_is_redacted_in_the_plan(make_job: Callable[..., ts.Job]) -> None:
    plan = make_job(backend_options={"simulated": {"api_key": "sk-secret"}}).plan("simulated")
    assert plan.row("backend_options.api_key").value == "***"
    assert "sk-secret" not in plan.model_dump_json()
