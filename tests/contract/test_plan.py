"""plan() is pure and accounts for every option; strict mode refuses what a backend drops."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tunesdk.backend import job_options
from tunesdk.errors import UnsupportedOption

if TYPE_CHECKING:
    from conftest import Harness


def test_plan_sends_uploads_and_starts_nothing(harness: Harness) -> None:
    job = harness.job(**harness.dropped)
    before = harness.spent()
    plan = job.plan(harness.name)
    assert plan.backend == harness.name
    assert harness.spent() == before


def test_plan_has_one_row_per_option_with_its_fate(harness: Harness) -> None:
    job = harness.job(**harness.dropped)
    plan = job.plan(harness.name)

    options = [row.option for row in plan.rows]
    assert len(options) == len(set(options)), "an option has two rows"
    assert set(job_options(job, plan.objective)) <= set(options)
    for option in job.options_set() - {"model", "data"}:
        row = plan.row(option)
        assert row.user_set, option
        assert row.status in ("mapped", "defaulted", "dropped"), option
    assert all(row.reason for row in plan.rows if row.status == "dropped")
    [dropped] = harness.dropped
    assert [row.option for row in plan.dropped] == [dropped]


def test_strict_turns_a_dropped_option_into_an_error_before_anything_is_spent(
    harness: Harness,
) -> None:
    [dropped] = harness.dropped
    job = harness.job(strict=True, **harness.dropped)
    before = harness.spent()
    with pytest.raises(UnsupportedOption) as refused:
        job.submit(harness.name)
    assert list(refused.value.options) == [dropped]
    assert dropped in str(refused.value)
    assert harness.spent() == before


def test_strict_job_with_only_honoured_options_plans(harness: Harness) -> None:
    plan = harness.job(strict=True).plan(harness.name)
    assert plan.dropped == []
