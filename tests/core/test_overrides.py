"""Overrides mark only what they override; dropped options warn at submit; unset rows read
`defaulted`; the plan table has a legend and wraps on words."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk.errors import UnsupportedOptionWarning
from tunesdk.events import Log


@pytest.fixture
def job_file(tmp_path: Path, data_file: Path) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text(f"model: tiny/model\ndata: {data_file}\nmax_steps: 4\nstrict: true\n")
    return path


def test_an_override_marks_only_its_own_field(job_file: Path) -> None:
    job = ts.Job.from_yaml(job_file)
    before = job.options_set()
    after = job.with_overrides({"epochs": 3})
    assert after.options_set() == before | {"epochs"}
    assert after.epochs == 3 and after.max_steps == 4


def test_override_of_a_method_field_keeps_the_method_and_its_defaults(make_job) -> None:
    job = make_job(method=ts.QLoRA(bits=8)).with_overrides({"method.r": 4})
    assert type(job.method) is ts.QLoRA and job.method.bits == 8 and job.method.r == 4
    assert job.method.alpha == 8  # a defaulted alpha follows r
    assert {"method.r", "method.bits"} <= job.options_set()
    assert "method.alpha" not in job.options_set()
    nested = make_job().with_overrides({"resources.processes": 2})
    assert nested.resources.processes == 2
    assert "resources.processes" in nested.options_set()
    assert "resources.nodes" not in nested.options_set()


def test_a_strict_job_with_an_override_still_plans(job_file: Path) -> None:
    plan = ts.Job.from_yaml(job_file).with_overrides({"epochs": 3}).plan("simulated")
    assert plan.dropped == []
    starred = sorted(r.option for r in plan.rows if r.user_set)
    assert starred == ["epochs", "max_steps"]


def test_cli_set_marks_only_the_overridden_option(
    job_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tunesdk.cli import main

    monkeypatch.setattr(
        "sys.argv", ["tunesdk", "plan", str(job_file), "-b", "trl", "--set", "epochs=3"]
    )
    try:
        main()
    except SystemExit as exit_:
        assert exit_.code in (0, None), capsys.readouterr().err
    out = capsys.readouterr().out
    starred = re.findall(r"^ \*(\S+)", out, flags=re.M)
    assert sorted(starred) == ["epochs", "max_steps"]
    assert "dropped   null" not in out


def test_unset_options_are_defaulted_not_dropped_or_mapped_null(make_job) -> None:
    plan = make_job().plan("simulated")
    for row in plan.rows:
        if not row.user_set and row.value in (None, [], False):
            assert row.status == "defaulted", row
    assert plan.row("objective").value == "sft"  # what the plan uses, not null


def test_submit_warns_once_per_dropped_user_option(make_job) -> None:
    job = make_job(packing=True, report_to=["wandb"])
    with pytest.warns(UnsupportedOptionWarning) as caught:
        result = job.run("simulated")
    messages = [str(w.message) for w in caught if w.category is UnsupportedOptionWarning]
    assert len(messages) == 2
    assert any(m.startswith("packing=true is ignored by simulated") for m in messages)
    logs = [e for e in result.events() if isinstance(e, Log) and e.level == "warning"]
    dropped = [e.message for e in logs if "is ignored by simulated" in e.message]
    assert sorted(dropped) == sorted(messages)


def test_submit_without_dropped_options_warns_nothing(make_job) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnsupportedOptionWarning)
        make_job(epochs=2).run("simulated")


def test_render_has_a_legend_and_wraps_on_words(make_job: Callable[..., ts.Job]) -> None:
    plan = make_job(packing=True).plan("simulated")
    plan.notes.append("a long note " + " ".join(f"word{i}" for i in range(40)))
    text = plan.render()
    lines = text.splitlines()
    assert any(line.startswith("* = set in the job") for line in lines)
    assert "defaulted:" in text and "dropped:" in text
    for line in lines:
        assert len(line) <= 80 or " " not in line.strip(), line
    words = set(" ".join(lines).split())
    assert {f"word{i}" for i in range(40)} <= words  # no word cut in two
    assert len(plan.render(width=120).splitlines()) < len(lines)
