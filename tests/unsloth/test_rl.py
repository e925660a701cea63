"""GRPO, KTO and ORPO on the unsloth backend: the plan, and training through tunesdk-trl's RL glue
with Unsloth replaced by the test-only stand-in (which records what tunesdk passed to Unsloth).

On a GPU Unsloth patches TRL's GRPOTrainer/KTOTrainer/ORPOTrainer when imported;
benchmarks/gpu/unsloth_check.py trains all three with real Unsloth there.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import tunesdk as ts
from tunesdk.events import Progress
from tunesdk.store import RunRecord
from tunesdk.testing import tiny_preference_data, train_losses
from tunesdk_unsloth import UnslothBackend

MakeRecord = Callable[[ts.Job], RunRecord]

WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog"]
PROMPTS = [
    {"prompt": " ".join(random.Random(i).sample(WORDS, 4)), "answer": "o"} for i in range(16)
]
KTO_ROWS = [
    {"prompt": f"Say {i}", "completion": str(i) if i % 2 else "no", "label": bool(i % 2)}
    for i in range(16)
]


def count_o(prompts: list[str], completions: list[str], **_: Any) -> list[float]:
    return [float(c.count("o")) for c in completions]


def _job(model: Path | str, objective: str, **fields: Any) -> ts.Job:
    settings: dict[str, Any] = {
        "model": str(model),
        "method": ts.LoRA(r=8),
        "max_steps": 2,
        "learning_rate": 1e-3,
        "seed": 0,
    }
    if objective == "grpo":
        settings.update(
            data=PROMPTS,
            rewards=[count_o],
            batch_size=8,
            num_generations=4,
            max_completion_length=8,
        )
    elif objective == "kto":
        settings.update(data=KTO_ROWS, objective="kto", batch_size=4)
    else:
        settings.update(data=tiny_preference_data(8), objective="orpo", batch_size=4)
    settings.update(fields)
    return ts.Job(**settings)


@pytest.mark.parametrize(
    ("objective", "trainer"),
    [("grpo", "GRPOTrainer"), ("kto", "KTOTrainer"), ("orpo", "ORPOTrainer")],
)
def test_the_plan_runs_the_objective_through_unsloth(objective: str, trainer: str) -> None:
    plan = UnslothBackend().plan(_job("/models/llama", objective))
    native = plan.native
    assert native["trainer"] == trainer and native["get_peft_model"]["r"] == 8
    assert native["from_pretrained"]["load_in_4bit"] is False
    config = native["config"]
    rows = {row.option: row for row in plan.rows}
    assert rows["objective"].value == objective
    assert any(f"Unsloth's patched {trainer}" in note for note in plan.notes)
    assert not any("assistant tokens only" in note for note in plan.notes)
    if objective == "grpo":
        assert (config["num_generations"], config["max_completion_length"]) == (4, 8)
        assert config["beta"] == 0.0 and "max_length" not in config and not config["use_vllm"]
        assert rows["rewards"].value == ["count_o"]
        assert "max_completion_length" in (rows["max_seq_length"].reason or "")
        assert rows["beta"].value == 0.0
    else:
        assert config["beta"] == 0.1 and config["max_length"] == 2048


def test_grpo_refuses_what_the_worker_cannot_run_on_unsloth_too() -> None:
    judge = ts.graders.ScoreModel(
        name="judge",
        model="gpt-4o-mini",
        input=[{"role": "user", "content": "{{sample.output_text}}"}],
        judge=lambda messages: "1",
    )
    with pytest.raises(ts.JobError, match="has a Python callable as its judge"):
        UnslothBackend().plan(_job("/models/llama", "grpo", rewards=[judge]))
    with pytest.raises(ts.JobError, match="not a multiple of num_generations"):
        UnslothBackend().plan(_job("/models/llama", "grpo", batch_size=6))


def test_grpo_trains_through_unsloths_model_and_reports_rewards(
    fake_unsloth: Any, tiny_model_path: Path, make_record: MakeRecord
) -> None:
    job = _job(tiny_model_path, "grpo")
    record = make_record(job)
    handle = UnslothBackend().train(record)

    planned = UnslothBackend().plan(job).native
    (loaded,) = fake_unsloth.calls("from_pretrained")
    assert {"model_name": loaded["model_name"], **loaded["kwargs"]} == planned["from_pretrained"]
    (peft,) = fake_unsloth.calls("get_peft_model")
    assert peft["kwargs"] == planned["get_peft_model"]
    progress = [e for e in record.events() if isinstance(e, Progress)]
    assert [p.step for p in progress] == [1, 2]
    assert all(p.reward_mean is not None and p.rewards for p in progress)
    assert progress[-1].rewards is not None and set(progress[-1].rewards) == {"count_o"}
    assert handle.kind == "adapter" and handle.engine == "unsloth"
    assert Path(handle.path, "adapter_config.json").exists()


@pytest.mark.parametrize("objective", ["kto", "orpo"])
def test_kto_and_orpo_train_through_unsloths_model(
    fake_unsloth: Any, tiny_model_path: Path, make_record: MakeRecord, objective: str
) -> None:
    record = make_record(_job(tiny_model_path, objective))
    handle = UnslothBackend().train(record)
    assert len(fake_unsloth.calls("get_peft_model")) == 1
    losses = train_losses(record.events())
    assert len(losses) == 2 and all(loss > 0 for loss in losses)
    assert handle.kind == "adapter" and handle.engine == "unsloth"


def test_unsloths_cpu_mode_refuses_grpo_before_any_worker(
    tiny_model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unsloth's CPU mode trains SFT only (and leaves TRL's GRPOTrainer unpatched)."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "fake_unsloth"))
    job = _job(tiny_model_path, "grpo", backend_options={"unsloth": {"allow_cpu": True}})
    check = UnslothBackend().check_job(job)
    assert not check.usable and "CPU mode trains SFT only" in str(check.reason)
    assert "not grpo" in str(check.reason) and "run GRPO on a machine with a GPU" in str(check.fix)


def test_grpo_runs_in_the_worker_with_a_module_function_reward(
    fake_unsloth: Any, tiny_model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "unsloth_rewards.py").write_text(
        "def has_o(prompts, completions, **_):\n    return [float('o' in c) for c in completions]\n"
    )
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ["PYTHONPATH"]]))
    job = _job(tiny_model_path, "grpo", rewards=["unsloth_rewards:has_o"])
    result = job.run(backend="unsloth", progress=False)
    assert "reward" in result.metrics and "reward_has_o" in result.metrics
    (imported,) = fake_unsloth.calls("import")
    assert imported["already_imported"] == []  # the worker imported unsloth first
    assert isinstance(result.model, ts.LocalModel) and result.model.engine == "unsloth"
