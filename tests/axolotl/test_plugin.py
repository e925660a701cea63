"""The events plugin: shipped into a real run only, read back as exact events, the console parser
as the fallback; plus what every Axolotl process gets (no telemetry, CPU kernels off)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk.events import Evaluation, Progress
from tunesdk.testing import tiny_chat_data
from tunesdk_axolotl import AxolotlBackend, plugin_events
from tunesdk_axolotl.plugin_events import PluginEvents
from tunesdk_axolotl.training import LORA_KERNELS, axolotl_env, run_config


def _write(path: Path, *records: object, end: str = "\n") -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("\n".join(json.dumps(r) for r in records) + end)


def test_records_become_exact_events_read_incrementally(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    reader = PluginEvents(path, world_size=2)
    assert reader.read() == [] and not reader.active  # no file yet
    _write(path, {"kind": "ready"}, {"kind": "begin", "max_steps": 6, "epochs": 1.0})
    assert reader.read() == [] and reader.active and reader.total_steps == 6
    log = {
        "kind": "log",
        "step": 1,
        "epoch": 0.25,
        "logs": {
            "loss": 5.7000732421875,
            "grad_norm": 0.47,
            "learning_rate": 0.005,
            "tokens/train_per_sec_per_gpu": 100.0,
        },
    }
    _write(path, log, end="")  # a line still being written waits
    assert reader.read() == []
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("\n")
    (progress,) = reader.read()
    assert isinstance(progress, Progress)
    assert (progress.step, progress.total_steps, progress.train_loss) == (1, 6, 5.7000732421875)
    assert progress.tokens_per_second == 200.0  # per GPU × 2
    _write(
        path,
        log,  # the same step again (never twice)
        {"kind": "log", "step": 3, "logs": {"eval_loss": 5.5, "epoch": 0.5}},  # on_evaluate's
        {"kind": "evaluate", "step": 3, "metrics": {"eval_loss": 5.5, "eval_runtime": 0.1}},
        {"kind": "save", "step": 3},
        {"kind": "log", "step": 6, "logs": {"train_runtime": 2.0, "train_loss": 5.6}},
        "not a record",
    )
    (evaluation,) = reader.read()
    assert isinstance(evaluation, Evaluation)
    assert (evaluation.step, evaluation.eval_loss, evaluation.metrics) == (3, 5.5, {"runtime": 0.1})


def test_only_a_real_runs_config_names_the_plugin(tiny_model_path: Path, tmp_path: Path) -> None:
    job = ts.Job(model=str(tiny_model_path), data=tiny_chat_data(4))
    plan = job.plan("axolotl")
    assert "plugins" not in plan.native
    assert not set(LORA_KERNELS) & set(plan.native)
    exported = AxolotlBackend().export(job, tmp_path / "export")
    assert "plugins" not in exported.read_text() and "kernel" not in exported.read_text()
    config = run_config({**plan.native, "plugins": ["theirs.Plugin"]}, cuda=True)
    assert config["plugins"] == ["theirs.Plugin", plugin_events.PLUGIN]
    assert not set(LORA_KERNELS) & set(config)  # a CUDA device: Axolotl's kernels stay on


def test_without_cuda_the_lora_kernels_are_off_unless_the_user_said(tiny_model_path: Path) -> None:
    job = ts.Job(
        model=str(tiny_model_path),
        data=tiny_chat_data(4),
        backend_options={"axolotl": {"lora_o_kernel": True}},
    )
    config = run_config(job.plan("axolotl").native, cuda=False)
    assert [config[k] for k in LORA_KERNELS] == [False, False, True, False]
    full = ts.Job(model=str(tiny_model_path), data=tiny_chat_data(4), method=ts.Full())
    assert not set(LORA_KERNELS) & set(run_config(full.plan("axolotl").native, cuda=False))


def test_every_axolotl_process_gets_no_telemetry_and_the_plugin_path(tmp_path: Path) -> None:
    env = axolotl_env({"PYTHONPATH": "/theirs"}, tmp_path / "plugin", tmp_path / "e.jsonl")
    assert env["AXOLOTL_DO_NOT_TRACK"] == "1"
    assert env["PYTHONPATH"].split(":") == [str(tmp_path / "plugin"), "/theirs"]
    assert env[plugin_events.EVENTS_ENV] == str(tmp_path / "e.jsonl")
    mine = axolotl_env({"AXOLOTL_DO_NOT_TRACK": "0"}, tmp_path, tmp_path / "e.jsonl")
    assert mine["AXOLOTL_DO_NOT_TRACK"] == "0"  # a caller's own choice wins


def test_the_plugin_imports_only_axolotl_transformers_and_the_standard_library() -> None:
    tree = ast.parse(plugin_events.SOURCE.read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    assert roots == {"__future__", "axolotl", "transformers", "json", "math", "os", "typing"}
    # one hook: a pre-trainer callback as well would be a second callback
    names = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    assert "add_callbacks_post_trainer" in names and "add_callbacks_pre_trainer" not in names


def _job(model: Path) -> ts.Job:
    return ts.Job(
        model=str(model),
        data=tiny_chat_data(16),
        method=ts.LoRA(r=4),
        batch_size=2,
        max_seq_length=64,
        max_steps=3,
        eval_split=0.25,
    )


def test_a_run_takes_the_plugins_exact_numbers(tiny_model_path: Path, fake_axolotl: Path) -> None:
    result = _job(tiny_model_path).run(backend="axolotl", progress=False)
    run_dir = Path(result.model.path).parent.parent  # type: ignore[union-attr]
    records = [json.loads(x) for x in (run_dir / "axolotl" / plugin_events.EVENTS_FILE).open()]
    assert records[0] == {"kind": "ready"}
    exact = [r["logs"]["loss"] for r in records if r["kind"] == "log"]
    events = result.events()
    assert [e.train_loss for e in events if isinstance(e, Progress)] == exact
    # the console prints 4 significant digits; the plugin's floats have all of them
    assert any(float(f"{loss:.4g}") != loss for loss in exact)
    (evaluation,) = [e for e in events if isinstance(e, Evaluation)]
    assert evaluation.step == 3


def test_without_the_plugin_the_console_parser_still_gives_every_event(
    tiny_model_path: Path, fake_axolotl: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_AXOLOTL_PLUGINS", "ignore")  # as Axolotl 0.19 does with a bad name
    result = _job(tiny_model_path).run(backend="axolotl", progress=False)
    losses = [e.train_loss for e in result.events() if isinstance(e, Progress)]
    assert len(losses) == 3 and all(loss == float(f"{loss:.4g}") for loss in losses)
    assert [e.step for e in result.events() if isinstance(e, Evaluation)] == [3]


def test_hidden_gpus_count_as_no_cuda_device(monkeypatch: pytest.MonkeyPatch) -> None:
    from tunesdk_axolotl.training import has_cuda_device

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert has_cuda_device() is False
