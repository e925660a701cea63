"""The job stored in a run folder (job.json) keeps which options the user set: a job loaded back
(``Run.attach(...).record.job``, ``tunesdk resume``) plans, warns and obeys strict mode exactly as
the submitted one did."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

import tunesdk as ts
from tunesdk.cli import app
from tunesdk.errors import UnsupportedOptionWarning

FAIL_AT_4 = {"simulated": {"fail_at_step": 4}}  # 2 epochs of 2 steps: checkpoint-2 is kept


def _failed_run(job: ts.Job) -> ts.Run:
    run = job.submit("simulated")
    with pytest.raises(ts.RunFailed, match="simulated failure at step 4"):
        run.wait(timeout=60)
    assert run.status == "failed"
    assert any(isinstance(e, ts.Checkpoint) for e in run.record.events())
    return run


def test_the_reloaded_job_has_the_same_user_set_options(data_file: Path) -> None:
    job = ts.Job(model="tiny/model", data=str(data_file), epochs=2, method=ts.QLoRA(r=4))
    run = job.submit("simulated")
    run.wait(timeout=60)
    stored = ts.Run.attach(run.run_id).record.job
    assert stored is not job
    assert stored.options_set() - {"name"} == job.options_set() == {
        "model", "data", "epochs", "method", "method.r",
    }  # fmt: skip
    assert stored.model_copy(update={"name": None}) == job and stored.method.kind == "qlora"


def test_resume_of_a_job_whose_only_option_is_epochs_drops_nothing(data_file: Path) -> None:
    job = ts.Job(model="tiny/model", data=str(data_file), epochs=2, backend_options=FAIL_AT_4)
    old = _failed_run(job)
    stored = ts.Run.attach(old.run_id).record.job
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plan = stored.plan("simulated")
        resumed = ts.Run.submit(stored, "simulated", resume=old.run_id)
        with pytest.raises(ts.RunFailed):  # fails at step 4 again, after resuming at step 3
            resumed.wait(timeout=60)
    assert [str(w.message) for w in caught if w.category is UnsupportedOptionWarning] == []
    assert plan.dropped == [] and plan.row("max_seq_length").user_set is False
    assert not [e for e in resumed.record.events() if "is ignored by" in str(e)]


def test_tunesdk_resume_of_a_strict_job_is_not_refused(data_file: Path) -> None:
    job = ts.Job(
        model="tiny/model", data=str(data_file), epochs=2, strict=True, backend_options=FAIL_AT_4
    )
    old = _failed_run(job)
    result = CliRunner().invoke(app, ["resume", old.run_id, "--detach"])
    assert result.exit_code == 0, result.output  # was: UnsupportedOption, 15 options
    resumed = ts.Run.attach(result.output.split()[0])
    assert resumed.record.state.get("resume_from", "").endswith("checkpoint-2")
    assert resumed.record.plan.dropped == []


def test_job_json_holds_the_options_as_given(make_job: Callable[..., ts.Job]) -> None:
    run = make_job(backend_options={"simulated": {"api_key": "sk-secret"}}).submit("simulated")
    run.wait(timeout=60)
    stored = json.loads((run.record.dir / "job.json").read_text("utf-8"))
    assert set(stored) - {"name"} == {"model", "data", "max_steps", "backend_options"}
    assert stored["backend_options"] == {"simulated": {"api_key": "***"}}
    assert run.record.plan.row("epochs").value == 1  # the effective values: plan.json


def test_resume_true_matches_a_run_stored_with_every_field_written_out(
    make_job: Callable[..., ts.Job],
) -> None:
    job = make_job(max_steps=None, epochs=2, backend_options=FAIL_AT_4)
    old = _failed_run(job)
    path = old.record.dir / "job.json"  # the layout of earlier versions: every field
    path.write_text(json.dumps(job.to_dict()), encoding="utf-8")
    resumed = job.submit("simulated", resume=True)
    with pytest.raises(ts.RunFailed):
        resumed.wait(timeout=60)
    steps = [e.step for e in resumed.record.events() if isinstance(e, ts.Progress)]
    assert steps == [3]  # from the old run's checkpoint-2, failing at step 4 again
