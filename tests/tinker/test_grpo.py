"""GRPO on the tinker backend: the KL penalty's math and plan row, a reward the tiny model
learns (the trl backend's count-the-o test), and rewards that misbehave ending the run with the
trl backend's one-line reasons."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest

import tunesdk as ts
from tunesdk.events import Progress
from tunesdk.rewards import RewardError
from tunesdk.store import RunStore
from tunesdk.testing.misbehaving_rewards import MISBEHAVING_REWARDS
from tunesdk.worker import one_line
from tunesdk_tinker import TinkerBackend
from tunesdk_tinker.emulator import TinkerServer
from tunesdk_tinker.loops.grpo import kl_advantages, kl_k3

WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog"]
PROMPTS = [{"prompt": " ".join(random.Random(i).sample(WORDS, 4))} for i in range(64)]


def count_o(prompts: list[str], completions: list[str], **_: Any) -> list[float]:
    """A reward the random tiny model learns within a few steps: the letter o, counted."""
    return [float(c.count("o")) for c in completions]


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNESDK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.tinker credentials of the developer
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TUNESDK_POLL_INTERVAL", "0.05")


def grpo_job(model: Path | str, **fields: Any) -> ts.Job:
    settings: dict[str, Any] = {
        "model": str(model),
        "data": PROMPTS,
        "rewards": [count_o],
        "method": ts.LoRA(r=8),
        "learning_rate": 5e-2,  # high: the tiny model starts from random weights
        "warmup_ratio": 0.0,
        "batch_size": 16,  # 4 prompts × num_generations 4
        "num_generations": 4,
        "max_completion_length": 16,
        "max_steps": 16,
        "seed": 0,
    }
    return ts.Job(**(settings | fields))


def train_in_process(job: ts.Job, tmp_path: Path) -> Any:
    """The worker's training call in this process (no worker to spawn): the record and result."""
    record = RunStore(tmp_path / "store").create(job, TinkerBackend().plan(job), "tinker")
    return record, TinkerBackend().train(record)


# ---- the KL penalty: math and plan (pure) -----------------------------------------------------


def test_k3_and_the_folded_advantage_match_a_hand_computation() -> None:
    # logp = -1, ref = -2: ref - logp = -1, k3 = e^-1 + 1 - 1 = 0.367879...
    assert kl_k3([-1.0, -0.5], [-2.0, -0.5]) == pytest.approx([math.exp(-1), 0.0])
    # ref - logp = +1: k3 = e - 1 - 1 = 0.718281...
    assert kl_k3([-3.0], [-2.0]) == pytest.approx([math.e - 2])
    # A' = A - β(1 - e^(ref - logp)): 0.5 - 0.1·(1 - e^-1) = 0.436788..., and A where they agree
    assert kl_advantages(0.5, [-1.0, -0.5], [-2.0, -0.5], beta=0.1) == pytest.approx(
        [0.5 - 0.1 * (1 - math.exp(-1)), 0.5]
    )


def test_the_folded_advantage_gives_trls_grpo_gradient_on_policy() -> None:
    """Tinker's importance-sampling loss with A' has, at ratio 1, the gradient of TRL's per-token
    loss ``-ratio·A + β·k3`` (what GRPOTrainer differentiates) with respect to each logprob."""
    import torch

    beta, advantage = 0.04, 0.7
    policy = torch.tensor([-1.2, -0.3, -2.5], dtype=torch.float64, requires_grad=True)
    ref = torch.tensor([-0.9, -0.8, -2.5], dtype=torch.float64)
    ratio = torch.exp(policy - policy.detach())
    trl = -ratio * advantage + beta * (torch.exp(ref - policy) - (ref - policy) - 1)
    (trl_grad,) = torch.autograd.grad(trl.sum(), policy)
    folded = torch.tensor(kl_advantages(advantage, policy.tolist(), ref.tolist(), beta))
    tinker = -(torch.exp(policy - policy.detach()) * folded)  # importance_sampling, per token
    (tinker_grad,) = torch.autograd.grad(tinker.sum(), policy)
    assert torch.allclose(trl_grad, tinker_grad, atol=1e-12)
    assert not torch.allclose(trl_grad, torch.full_like(trl_grad, -advantage))  # KL counts


def test_beta_is_mapped_when_set_and_zero_otherwise() -> None:
    rows = {r.option: r for r in grpo_job("m").plan("tinker").rows}
    assert (rows["beta"].status, rows["beta"].native_value) == ("defaulted", 0.0)
    plan = grpo_job("m", beta=0.04).plan("tinker")
    row = {r.option: r for r in plan.rows}["beta"]
    assert (row.status, row.value, row.native_value) == ("mapped", 0.04, 0.04)
    assert plan.native["grpo"]["beta"] == 0.04 and "k3" in plan.native["grpo"]["kl"]
    assert grpo_job("m").plan("tinker").native["grpo"]["beta"] == 0.0


# ---- runs against the offline server ----------------------------------------------------------


@pytest.mark.parametrize(
    "temperature",
    [1.0, 0.7],  # 1.0: the sampler's own logprobs; else the current weights scored again
)
def test_grpo_with_beta_reports_the_kl_to_the_base_model(
    tiny_model_path: Path, tinker_env: TinkerServer, tmp_path: Path, temperature: float
) -> None:
    job = grpo_job(
        tiny_model_path,
        beta=0.04,
        batch_size=8,
        max_steps=2,
        max_completion_length=6,
        temperature=temperature,
    )
    record, _ = train_in_process(job, tmp_path)
    progress = [e for e in record.events() if isinstance(e, Progress)]
    assert [p.step for p in progress] == [1, 2]
    first, second = (p.kl for p in progress)
    assert first is not None and second is not None
    assert first == pytest.approx(0.0, abs=1e-4)  # step 1 samples the untrained (= base) model
    assert second > 1e-4  # one update later the policy has left the reference


def test_grpo_on_tinker_learns_to_say_o(
    tiny_model_path: Path, tinker_env: TinkerServer, tmp_path: Path
) -> None:
    """LoRA on lm_head too: with attention/MLP adapters only, 16 steps barely move the random
    tiny model's reward (measured +0.03..+0.14 at learning rates 0.05..0.2); with the
    unembedding it says almost nothing but "o" within the 16 steps (0.5 -> 15.9, ~5 s)."""
    job = grpo_job(tiny_model_path, backend_options={"tinker": {"train_unembed": True}})
    record, _ = train_in_process(job, tmp_path)
    rewards = [e.reward_mean or 0.0 for e in record.events() if isinstance(e, Progress)]
    assert len(rewards) == 16
    start, end = sum(rewards[:4]) / 4, sum(rewards[-4:]) / 4
    assert end > start + 0.3, rewards


@pytest.mark.parametrize(("reward", "says"), MISBEHAVING_REWARDS)
def test_a_misbehaving_reward_stops_training_with_one_line(
    tiny_model_path: Path, tinker_env: TinkerServer, tmp_path: Path, reward: Any, says: str
) -> None:
    job = grpo_job(
        tiny_model_path, rewards=[reward], batch_size=8, max_steps=2, max_completion_length=4
    )
    with pytest.raises(RewardError) as info:
        train_in_process(job, tmp_path)
    line = one_line(info.value)
    assert says in line and "\n" not in line


def test_a_raising_reward_in_the_worker_ends_the_run_failed_with_one_line(
    tiny_model_path: Path,
    tinker_env: TinkerServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "bad_rewards.py").write_text(
        "def boom(prompts, completions, **kwargs):\n    raise ValueError('no answer column')\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    job = grpo_job(
        tiny_model_path,
        rewards=["bad_rewards:boom"],
        batch_size=8,
        max_steps=2,
        max_completion_length=4,
    )
    with pytest.raises(ts.RunFailed) as info:
        job.run("tinker", progress=False)
    assert "reward 'boom' raised ValueError: no answer column" in info.value.error
    assert "\n" not in info.value.error
    assert "Traceback" not in capfd.readouterr().err
