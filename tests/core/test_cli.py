"""The ``tunesdk`` command line: run, plan, backends, runs, status, logs, and bad job files."""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk import registry

Invoke = Callable[..., tuple[int, str, str]]  # the `invoke` fixture (tests/conftest.py)

TUNESDK = Path(sys.executable).with_name("tunesdk")


@pytest.fixture
def job_file(job_yaml: Callable[..., Path]) -> Path:
    return job_yaml(steps=5)


def test_run_prints_json_events_from_the_installed_script(job_file: Path) -> None:
    proc = subprocess.run(
        [str(TUNESDK), "run", str(job_file), "--backend", "simulated", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    events = [ts.parse_event(line) for line in proc.stdout.splitlines()]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert isinstance(events[-1], ts.Completed)
    assert [e.step for e in events if isinstance(e, ts.Progress)] == [1, 2, 3, 4, 5]
    assert proc.stderr.startswith("run simulated-")


def test_run_then_runs_status_and_logs(job_file: Path, invoke: Invoke) -> None:
    code, out, err = invoke(["run", str(job_file), "--backend", "simulated"])
    assert code == 0, err
    assert "step 5/5" in out and "model: local:" in out
    run_id = err.split()[1]
    assert f"completed run {run_id} in " in out

    code, out, _ = invoke(["runs"])
    assert code == 0 and run_id in out and "completed" in out

    code, out, _ = invoke(["status", run_id])
    assert code == 0
    assert f"run {run_id}: completed (simulated)" in out
    assert "step 5/5" in out and "model local:" in out

    code, out, _ = invoke(["logs", run_id, "--json"])
    assert code == 0
    events = [ts.parse_event(line) for line in out.splitlines()]
    assert events == ts.Run.attach(run_id).record.events()


def test_plan_shows_native_config_and_rows(job_file: Path, invoke: Invoke) -> None:
    code, out, _ = invoke(["plan", str(job_file), "-b", "simulated", "--set", "packing=true"])
    assert code == 0
    assert '"engine": "simulated"' in out
    assert "*packing" in out and "dropped" in out

    code, out, _ = invoke(["plan", str(job_file), "-b", "simulated", "--json"])
    plan = ts.Plan.model_validate_json(out)
    assert plan.row("max_steps").value == 5


def test_plan_strict_exits_2(job_file: Path, invoke: Invoke) -> None:
    args = ["plan", str(job_file), "-b", "simulated", "--set", "packing=true", "--set", "strict=1"]
    code, _, err = invoke(args)
    assert code == 2
    assert err.startswith("error: backend 'simulated'") and "packing" in err


def test_backends_lists_usable_and_missing(monkeypatch: pytest.MonkeyPatch, invoke: Invoke) -> None:
    monkeypatch.setitem(registry.KNOWN_BACKENDS, "ghost", ("tunesdk-ghost", "local"))
    code, out, _ = invoke(["backends"])
    assert code == 0
    line = {row.split()[1]: row for row in out.splitlines() if row.split()[1:2]}
    assert "yes" in line["simulated"]
    assert "pip install tunesdk-ghost" in line["ghost"]


def test_unknown_backend_exits_3(
    job_file: Path, monkeypatch: pytest.MonkeyPatch, invoke: Invoke
) -> None:
    monkeypatch.setitem(registry.KNOWN_BACKENDS, "ghost", ("tunesdk-ghost", "local"))
    code, _, err = invoke(["run", str(job_file), "-b", "ghost"])
    assert code == 3
    assert "pip install tunesdk-ghost" in err


def test_failed_run_exits_1(job_file: Path, invoke: Invoke) -> None:
    args = [
        "run",
        str(job_file),
        "-b",
        "simulated",
        "--set",
        "backend_options.simulated.fail_at_step=2",
    ]
    code, _, err = invoke(args)
    assert code == 1
    assert "simulated failure at step 2" in err and "Traceback" not in err


def test_status_of_unknown_run_exits_2(invoke: Invoke) -> None:
    code, _, err = invoke(["status", "no-such-run"])
    assert code == 2 and "no run 'no-such-run'" in err


def _random_bytes() -> bytes:
    return random.Random(1234).randbytes(256)


BAD_JOB_FILES: dict[str, bytes] = {
    "invalid_yaml": b"model: tiny\ndata: [unclosed\n",
    "tab_indent": b"model: tiny\n\tdata: x\n",
    "not_a_mapping": b"- model: tiny\n- data: train.jsonl\n",
    "scalar": b"just a string\n",
    "wrong_type_epochs": b"model: tiny\ndata: train.jsonl\nepochs: many\n",
    "wrong_type_method": b"model: tiny\ndata: train.jsonl\nmethod: {kind: lora, r: big}\n",
    "unknown_method_kind": b"model: tiny\ndata: train.jsonl\nmethod: {kind: magic}\n",
    "wrong_type_data": b"model: tiny\ndata: 42\n",
    "unknown_key": b"model: tiny\ndata: train.jsonl\nepoch: 3\n",
    "missing_data_key": b"model: tiny\n",
    "missing_data_file": b"model: tiny\ndata: nowhere.jsonl\n",
    "bad_data_rows": b"model: tiny\ndata: [1, 2]\n",
    "random_bytes": _random_bytes(),
    "empty": b"",
}


@pytest.mark.parametrize("command", ["run", "plan"])
@pytest.mark.parametrize("name", sorted(BAD_JOB_FILES))
def test_bad_job_file_exits_2_with_a_readable_error(
    name: str, command: str, tmp_path: Path, data_file: Path, invoke: Invoke
) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(BAD_JOB_FILES[name])
    code, _, err = invoke([command, str(path), "-b", "simulated"])
    assert code == 2, err
    assert err.startswith("error: ")
    assert "Traceback" not in err


def test_bad_job_file_via_the_installed_script(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_bytes(_random_bytes())
    proc = subprocess.run(
        [str(TUNESDK), "plan", str(path), "-b", "simulated"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    assert str(path) in proc.stderr
    assert proc.stdout == ""


def test_directory_as_job_file_exits_2(tmp_path: Path, invoke: Invoke) -> None:
    code, _, err = invoke(["plan", str(tmp_path), "-b", "simulated"])
    assert code == 2 and err.startswith("error: ") and "IsADirectoryError" in err


# ---- estimate, plot, plan -o ----------------------------------------------------------------


@pytest.fixture
def estimate_job_file(tmp_path: Path, data_file: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "no-tiktoken-cache"))  # stay offline
    monkeypatch.delenv("TUNESDK_PRICES", raising=False)
    path = tmp_path / "estimate.yaml"
    path.write_text(
        f"model: meta-llama/Llama-3.1-8B-Instruct\ndata: {data_file.name}\nepochs: 2\n"
        "method: {kind: lora, r: 16}\n"
    )
    return path


def test_estimate_json_is_machine_readable(estimate_job_file: Path, invoke: Invoke) -> None:
    code, out, err = invoke(["estimate", str(estimate_job_file), "--json"])
    assert code == 0, err
    from tunesdk.estimation import Estimate

    estimate = Estimate.model_validate_json(out)
    assert estimate.is_estimate
    assert estimate.tokens.training_tokens == 2 * estimate.tokens.tokens_per_epoch > 0
    assert estimate.memory_for("lora").selected
    assert estimate.memory_for("lora").trainable_params == 41_943_040


def test_estimate_table_is_labelled_and_takes_overrides(
    estimate_job_file: Path, tmp_path: Path, invoke: Invoke
) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text("providers:\n  fireworks:\n    minimum_charge: 4.0\n")
    args = ["estimate", str(estimate_job_file), "--prices", str(prices), "--set", "epochs=1"]
    code, out, err = invoke(args)
    assert code == 0, err
    assert "ESTIMATE" in out and "Training tokens (estimate)" in out
    assert "minimum charge $4.00 applied" in out
    assert "lora ◀ job" in out
    assert "UNVERIFIED" in out


def test_estimate_bad_params_exits_2(estimate_job_file: Path, invoke: Invoke) -> None:
    args = ["estimate", str(estimate_job_file), "--params", "lots"]
    code, _, err = invoke(args)
    assert code == 2
    assert "cannot read params='lots'" in err and "fix:" in err


@pytest.mark.parametrize(("name", "loader"), [("native.yaml", "yaml"), ("native.json", "json")])
def test_plan_output_format_follows_the_extension(
    job_file: Path, tmp_path: Path, name: str, loader: str, invoke: Invoke
) -> None:
    import json

    import yaml

    target = tmp_path / name
    code, _, err = invoke(["plan", str(job_file), "-b", "simulated", "-o", str(target)])
    assert code == 0, err
    text = target.read_text()
    written = yaml.safe_load(text) if loader == "yaml" else json.loads(text)
    assert written == ts.Job.from_yaml(job_file).plan("simulated").native
    if loader == "yaml":
        assert not text.lstrip().startswith("{")  # block YAML, not JSON


def test_plan_writes_axolotl_config_as_yaml(job_file: Path, tmp_path: Path, invoke: Invoke) -> None:
    import yaml

    if "axolotl" not in {info.name for info in ts.backends()}:
        pytest.skip("tunesdk-axolotl is not installed")
    target = tmp_path / "axolotl.yml"
    code, _, err = invoke(["plan", str(job_file), "-b", "axolotl", "-o", str(target)])
    assert code == 0, err
    config = yaml.safe_load(target.read_text())
    assert config == ts.Job.from_yaml(job_file).plan("axolotl").native
    assert config["base_model"] == "tiny/model"


def _overfitting_run() -> str:
    """A finished run whose eval loss turns up while train loss keeps falling."""
    from tunesdk.store import RunStore

    job = ts.Job(model="tiny/model", data=[{"text": "hello"}])
    record = RunStore().create(job, job.plan("simulated"), "simulated")
    evals = {10: 1.0, 20: 0.8, 30: 0.9, 40: 1.0, 50: 1.1}
    for step in range(1, 51):
        record.emit(ts.Progress(step=step, total_steps=50, train_loss=2.0 - step * 0.03))
        if step in evals:
            record.emit(ts.Evaluation(step=step, eval_loss=evals[step]))
    record.emit(ts.Completed(model=ts.LocalModel(path="/tmp/model", base_model="tiny/model")))
    return record.run_id


def test_plot_writes_the_png_and_warns_about_overfitting(tmp_path: Path, invoke: Invoke) -> None:
    run_id = _overfitting_run()
    target = tmp_path / "loss.png"
    code, out, err = invoke(["plot", run_id, "-o", str(target)])
    assert code == 0, err
    assert f"wrote {target}" in out
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "overfitting" in err and "step 20" in err


def test_plot_unknown_run_exits_2(invoke: Invoke) -> None:
    code, _, err = invoke(["plot", "no-such-run"])
    assert code == 2
    assert "no-such-run" in err


@pytest.mark.parametrize("args", [["bogus"], ["run"]])
def test_usage_errors_exit_2_without_a_traceback(args: list[str], invoke: Invoke) -> None:
    code, _, err = invoke(args)
    assert code == 2
    assert "Traceback" not in err and "Error:" in err
