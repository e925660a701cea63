"""Every example runs as a user would run it (a subprocess, offline) and prints what it promises."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
PLUGIN = EXAMPLES / "plugin_backend"


def run_example(script: Path, tmp_path: Path, **env: str) -> str:
    """Run ``script WORK_DIR`` with a private run store; return stdout (fail with its output)."""
    environment = {
        **os.environ,
        "TUNESDK_HOME": str(tmp_path / "home"),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        **env,
    }
    for provider in ("TOGETHER", "FIREWORKS", "OPENAI", "AZURE_OPENAI"):
        for suffix in ("_API_KEY", "_BASE_URL", "_ACCOUNT_ID", "_ENDPOINT"):
            environment.pop(provider + suffix, None)  # examples must work from a clean shell
    environment.pop("WANDB_API_KEY", None)
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "work")],
        capture_output=True,
        text=True,
        timeout=180,
        env=environment,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, (
        f"{script.name} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    )
    return proc.stdout


@pytest.mark.slow
def test_local_lora_trains_chats_and_merges(tmp_path: Path) -> None:
    out = run_example(EXAMPLES / "local_lora.py", tmp_path)
    assert '"r": 8, "lora_alpha": 16' in out  # the plan shows alpha = 2r
    assert "step 16/16 loss" in out
    assert "eval at step 16: eval_loss" in out
    assert "model: local:" in out
    assert "chat: '" in out
    assert f"merged: merged {tmp_path / 'work' / 'merged'}" in out
    assert (tmp_path / "work" / "merged" / "config.json").exists()


@pytest.mark.slow
def test_qlora_plans_everywhere_and_explains_when_it_cannot_train(tmp_path: Path) -> None:
    out = run_example(EXAMPLES / "qlora.py", tmp_path)
    assert '"load_in_4bit": true' in out
    assert '"bnb_4bit_quant_type": "nf4"' in out
    import torch

    if torch.cuda.is_available():
        assert "model: local:" in out
    else:
        assert "QLoRA cannot train here:" in out
        assert "needs a CUDA GPU" in out
        assert "fix: run on a machine with an NVIDIA GPU" in out


@pytest.mark.slow
def test_dpo_infers_the_objective_and_trains(tmp_path: Path) -> None:
    out = run_example(EXAMPLES / "dpo.py", tmp_path)
    assert "objective: dpo" in out
    assert "trainer: DPOTrainer" in out
    assert "step 4/4 loss" in out
    assert "model: local:" in out


def test_managed_swap_runs_one_job_on_three_provider_emulators(tmp_path: Path) -> None:
    out = run_example(EXAMPLES / "managed_swap.py", tmp_path)
    assert "plan together: model meta-llama/Meta-Llama-3.1-8B-Instruct-Reference" in out
    assert "plan openai: model gpt-4.1-mini-2025-04-14; dropped: method" in out
    assert "model: together:" in out
    assert "model: fireworks:accounts/my-account/models/support-" in out
    assert "model: openai:ft:gpt-4.1-mini-2025-04-14:" in out
    assert out.count("chat: ") == 3
    assert "emulated-key" not in out and "sk-emulated" not in out  # keys never printed


def test_async_app_reattaches_without_losing_events_and_cancels(tmp_path: Path) -> None:
    out = run_example(EXAMPLES / "async_app.py", tmp_path)
    assert "attached to together-" in out
    assert "none lost or repeated" in out
    assert "second run: cancelled" in out
    heartbeats = int(out.split("the event loop stayed free: ")[1].split()[0])
    assert heartbeats > 10


def install_plugin_metadata(site: Path) -> Path:
    """What ``pip install examples/plugin_backend`` leaves behind for tunesdk to find: a dist-info
    folder with the entry points declared in the package's pyproject.toml (built here because the
    tests run offline, without a build backend)."""
    project = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"]
    dist_info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    lines = [
        f"{name} = {target}" for name, target in project["entry-points"]["tunesdk.backends"].items()
    ]
    (dist_info / "entry_points.txt").write_text("[tunesdk.backends]\n" + "\n".join(lines) + "\n")
    return site


def test_plugin_backend_is_found_through_its_entry_point_and_trains(tmp_path: Path) -> None:
    site = install_plugin_metadata(tmp_path / "site")
    path = os.pathsep.join([str(site), str(PLUGIN / "src")])
    out = run_example(PLUGIN / "demo.py", tmp_path, PYTHONPATH=path)
    assert "backend lookup: kind=local usable=True from tunesdk-lookup" in out
    assert "learning_rate" in out and "a lookup table has no weights" in out
    assert "losses: [1.0, 1.0, 0.0, 0.0]" in out  # the second epoch finds everything memorised
    assert "chat: Use the 'Forgot password' link on the sign-in page." in out


@pytest.fixture
def lookup_backend(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> type:
    monkeypatch.syspath_prepend(str(PLUGIN / "src"))
    monkeypatch.setenv("TUNESDK_HOME", str(tmp_path / "home"))
    from tunesdk_lookup import LookupBackend

    return LookupBackend


def test_plugin_plan_accounts_for_every_option_and_honours_strict(lookup_backend: type) -> None:
    import tunesdk as ts
    from tunesdk.backend import job_options, plan_checked

    rows = [
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    ]
    job = ts.Job(model="m", data=rows, learning_rate=1e-3, method=ts.Full())
    # the core adds the launcher's rows (resources.launcher, ...); the plugin plans the rest
    plan = plan_checked(lookup_backend(), job)
    assert {row.option for row in plan.rows} >= set(job_options(job, "sft"))
    assert [row.option for row in plan.dropped] == ["learning_rate"]  # set by the user
    with pytest.raises(ts.UnsupportedOption, match="learning_rate"):
        lookup_backend().plan(job.with_overrides({"strict": True}))


def test_plugin_check_job_refuses_preference_data_with_a_fix(lookup_backend: type) -> None:
    import tunesdk as ts
    from tunesdk.testing import tiny_preference_data

    check = lookup_backend().check_job(ts.Job(model="m", data=tiny_preference_data(4)))
    assert not check.usable
    assert "preference pairs" in (check.reason or "")
    assert check.fix and "trl" in check.fix


def test_every_example_is_listed_on_the_examples_page() -> None:
    page = (ROOT / "docs" / "examples.md").read_text()
    for script in sorted(EXAMPLES.glob("*.py")):
        assert f"examples/{script.name}" in page, f"docs/examples.md does not mention {script.name}"
    assert "examples/plugin_backend" in page


@pytest.mark.slow
def test_serve_openai_client_fine_tunes_on_trl_then_together(tmp_path: Path) -> None:
    out = run_example(EXAMPLES / "serve_openai_client.py", tmp_path)
    trl, together = out.split("together (one argument changed):")
    assert "job trl-" in trl and "Step 3/3" in trl and "status: succeeded" in trl
    assert "fine_tuned_model: local:" in trl and "chat: " in trl
    assert "job together-" in together and "status: succeeded" in together
    assert "[warn] max_steps=3 is ignored by together" in together  # dropped options are events
    assert "fine_tuned_model: together:" in together and "chat: " in together
    assert "together-key-of-the-server" not in out  # the provider key stays in the server
