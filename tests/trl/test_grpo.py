"""GRPO on the tiny model on CPU: the reward rises, events carry it, bad rewards fail cleanly."""

from __future__ import annotations

import random
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import tunesdk as ts
from tunesdk.events import Progress
from tunesdk.rewards import RewardError
from tunesdk.store import RunRecord
from tunesdk.testing.misbehaving_rewards import MISBEHAVING_REWARDS
from tunesdk.worker import one_line
from tunesdk_trl import TRLBackend

MakeRecord = Callable[[ts.Job], RunRecord]

WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog"]
PROMPTS = [{"prompt": " ".join(random.Random(i).sample(WORDS, 4))} for i in range(64)]


def count_o(prompts: list[str], completions: list[str], **_: Any) -> list[float]:
    """A reward the random tiny model learns within a few steps: the letter o, counted."""
    return [float(c.count("o")) for c in completions]


def grpo_job(model: Path, **fields: Any) -> ts.Job:
    settings: dict[str, Any] = {
        "model": str(model),
        "data": PROMPTS,
        "rewards": [count_o],
        "method": ts.Full(),
        "learning_rate": 1e-2,  # high: the tiny model starts from random weights
        "batch_size": 16,  # 4 prompts × num_generations 4
        "num_generations": 4,
        "max_completion_length": 16,
        "max_steps": 16,
        "seed": 0,
    }
    settings.update(fields)
    return ts.Job(**settings)


def rewards_of(record: RunRecord) -> list[float]:
    return [
        e.reward_mean
        for e in record.events()
        if isinstance(e, Progress) and e.reward_mean is not None
    ]


@pytest.mark.slow
def test_grpo_full_reward_rises_and_progress_carries_the_rl_metrics(
    tiny_model_path: Path, make_record: MakeRecord
) -> None:
    record = make_record(grpo_job(tiny_model_path))
    handle = TRLBackend().train(record)
    rewards = rewards_of(record)
    assert len(rewards) == 16
    start, end = sum(rewards[:4]) / 4, sum(rewards[-4:]) / 4
    assert end > start + 0.3, rewards
    last = [e for e in record.events() if isinstance(e, Progress)][-1]
    assert last.rewards is not None and set(last.rewards) == {"count_o"}
    assert last.reward_std is not None and last.completion_length is not None
    assert last.clip_ratio is not None
    assert handle.kind == "full" and Path(handle.path, "config.json").exists()


def test_grpo_lora_trains_an_adapter_with_a_kl_penalty(
    tiny_model_path: Path, make_record: MakeRecord
) -> None:
    job = grpo_job(tiny_model_path, method=ts.LoRA(r=8), max_steps=2, beta=0.04)
    assert job.plan("trl").native["config"]["beta"] == 0.04
    record = make_record(job)
    handle = TRLBackend().train(record)
    progress = [e for e in record.events() if isinstance(e, Progress)]
    assert len(progress) == 2 and all(p.kl is not None for p in progress)
    assert handle.kind == "adapter" and Path(handle.path, "adapter_config.json").exists()


@pytest.mark.parametrize(("reward", "says"), MISBEHAVING_REWARDS)
def test_a_misbehaving_reward_stops_training_with_one_line(
    tiny_model_path: Path, make_record: MakeRecord, reward: Any, says: str
) -> None:
    job = grpo_job(tiny_model_path, rewards=[reward], batch_size=8, max_steps=2)
    record = make_record(job)
    with pytest.raises(RewardError) as info:
        TRLBackend().train(record)
    line = one_line(info.value)
    assert says in line and "\n" not in line


def test_grpo_plan_maps_every_knob_and_refuses_an_uneven_batch(tiny_model_path: Path) -> None:
    plan = grpo_job(tiny_model_path, num_generations=None, max_completion_length=None).plan("trl")
    config = plan.native["config"]
    assert plan.native["trainer"] == "GRPOTrainer"
    assert (config["num_generations"], config["max_completion_length"]) == (4, 64)
    assert config["beta"] == 0.0 and config["loss_type"] == "dapo" and not config["use_vllm"]
    assert "max_length" not in config
    rows = {row.option: row for row in plan.rows}
    assert rows["num_generations"].status == "defaulted"
    assert rows["rewards"].status == "mapped" and rows["rewards"].value == ["count_o"]
    with pytest.raises(ts.JobError, match="not a multiple of num_generations=3"):
        grpo_job(tiny_model_path, num_generations=3).plan("trl")


@pytest.mark.slow
def test_a_yaml_job_naming_module_function_trains_in_the_worker(
    tiny_model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_rewards.py").write_text(
        textwrap.dedent(
            """
            def count_o(prompts, completions, **kwargs):
                return [float(c.count("o")) for c in completions]
            """
        )
    )
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    (tmp_path / "prompts.jsonl").write_text(
        "".join(f'{{"prompt": "{row["prompt"]}"}}\n' for row in PROMPTS)
    )
    (tmp_path / "job.yaml").write_text(
        textwrap.dedent(
            f"""
            model: {tiny_model_path}
            data: prompts.jsonl
            rewards: ["my_rewards:count_o"]
            method: full
            learning_rate: 0.01
            batch_size: 16
            num_generations: 4
            max_completion_length: 16
            max_steps: 16
            seed: 0
            """
        )
    )
    job = ts.Job.from_yaml(tmp_path / "job.yaml")
    assert job.infer_objective() == "grpo"
    result = job.run("trl", progress=False)
    assert result.metrics["reward"] > result.metrics["first_reward"]
    rewards = [e.reward_mean or 0.0 for e in result.events() if isinstance(e, Progress)]
    assert len(rewards) == 16 and sum(rewards[-4:]) / 4 > sum(rewards[:4]) / 4 + 0.3, rewards


@pytest.mark.slow
def test_a_raising_reward_in_the_worker_ends_failed_with_one_line(
    tiny_model_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "bad_rewards.py").write_text(
        "def boom(prompts, completions, **kwargs):\n    raise ValueError('no answer column')\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    job = grpo_job(tiny_model_path, rewards=["bad_rewards:boom"], batch_size=8, max_steps=2)
    with pytest.raises(ts.RunFailed) as info:
        job.run("trl", progress=False)
    assert "reward 'boom' raised ValueError: no answer column" in info.value.error
    assert "\n" not in info.value.error
    assert "Traceback" not in capfd.readouterr().err


def test_the_loss_plot_of_a_grpo_run_shows_the_reward(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from tunesdk.evaluation.plot import plot_loss

    events = [
        Progress(step=i, train_loss=0.0, reward_mean=i / 10, reward_std=0.1, rewards={"a": 0.1})
        for i in range(1, 6)
    ]
    path = plot_loss(events, tmp_path / "reward.png")
    assert path.stat().st_size > 1000
    from tunesdk.events import summarize

    metrics = summarize(events)
    assert (metrics["reward"], metrics["first_reward"], metrics["reward_a"]) == (0.5, 0.1, 0.1)


def test_a_grader_is_a_reward_on_trl(tiny_model_path: Path, make_record: MakeRecord) -> None:
    grader = ts.graders.StringCheck(
        name="has_o", input="{{sample.output_text}}", reference="o", operation="ilike"
    )
    job = grpo_job(tiny_model_path, rewards=[grader, count_o], batch_size=8, max_steps=2)
    record = make_record(job)
    TRLBackend().train(record)
    last = [e for e in record.events() if isinstance(e, Progress)][-1]
    assert last.rewards is not None and set(last.rewards) == {"has_o", "count_o"}
