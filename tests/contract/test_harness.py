"""The shipped contract harness itself (`tunesdk.testing.contract`); every backend runs its cases
from its own tests folder (tests/<backend>/test_contract.py, examples/plugin_backend/tests)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tunesdk.testing.contract import BackendContract, BackendFacts, ContractHarness


def test_pytest_stays_optional_for_tunesdk_and_tunesdk_testing() -> None:
    code = (
        "import sys, tunesdk, tunesdk.testing\n"
        "print(sorted(m for m in sys.modules if 'pytest' in m))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_subclass_without_facts_is_told_what_to_define(tmp_path: Path) -> None:
    (tmp_path / "test_nofacts.py").write_text(
        textwrap.dedent(
            """
            from tunesdk.testing.contract import PlanContract

            class TestNoFacts(PlanContract):
                pass
            """
        )
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stdout
    assert (
        "TestNoFacts runs the tunesdk contract suite but does not say which backend" in proc.stdout
    )
    assert "define a class-scoped `contract_facts` fixture returning BackendFacts" in proc.stdout


def test_cases_run_plan_first_and_the_secrets_case_last() -> None:
    cases = [name for name in dir(BackendContract) if name.startswith("test_")]
    assert len(cases) == 15
    order = [
        name
        for cls in reversed(BackendContract.__mro__)
        for name in vars(cls)
        if name.startswith("test_")
    ]
    assert order[0] == "test_plan_sends_uploads_and_starts_nothing"
    assert order[-1] == "test_api_keys_are_never_written_to_the_run_folder"


def test_rows_become_one_jsonl_file_and_the_environment_is_private(tmp_path: Path) -> None:
    rows = [
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
    ]
    facts = BackendFacts(
        "simulated",
        job={"model": "m", "data": rows},
        dropped={"weight_decay": 0.1},
        env={"WANDB_API_KEY": None, "EXTRA": "1"},
    )
    harness = ContractHarness(facts, tmp_path)
    first, second = harness.job(), harness.job(epochs=2)
    assert first.data == second.data and Path(str(first.data)).read_text().count("\n") == 1
    env = harness.environment()
    assert env["TUNESDK_HOME"] == str(tmp_path / "home") and env["HF_HUB_OFFLINE"] == "1"
    assert env["WANDB_API_KEY"] is None and env["EXTRA"] == "1"
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("WANDB_API_KEY", "secret")
        harness.apply(monkeypatch)
        assert "WANDB_API_KEY" not in os.environ
