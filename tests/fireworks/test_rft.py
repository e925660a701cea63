"""Reinforcement fine-tuning on Fireworks: an evaluator built from the graders, then the RFT job.

Runs go through the official ``fireworks-ai`` SDK against the emulator: ``evaluatorsV2`` is
created first, then ``reinforcementFineTuningJobs`` naming it; the emulator reports a rising reward
curve, which the backend turns into Progress events with ``reward_mean``.
"""

from __future__ import annotations

from typing import Any

import pytest

import tunesdk as ts
from tunesdk.errors import JobError
from tunesdk.events import Checkpoint, Completed, Progress
from tunesdk_fireworks import evaluator as ev

pytest.importorskip("tunesdk.run", reason="the core's run layer is not installed")
pytestmark = pytest.mark.usefixtures("fireworks_env")

MODEL = "Qwen/Qwen2.5-7B-Instruct"
ACCOUNT = "acme"


def _prompts(n: int, start: int = 1) -> list[dict[str, Any]]:
    return [
        {"prompt": f"What is {i} + {i}?", "answer": str(2 * i)} for i in range(start, start + n)
    ]


def _exact() -> Any:
    return ts.graders.StringCheck(
        name="exact", input="{{sample.output_text}}", reference="{{item.answer}}", operation="eq"
    )


def _fuzzy(metric: str = "fuzzy_match") -> Any:
    return ts.graders.TextSimilarity(
        name="close",
        input="{{sample.output_text}}",
        reference="{{item.answer}}",
        evaluation_metric=metric,
    )


def _job(**fields: Any) -> ts.Job:
    base: dict[str, Any] = {
        "model": MODEL,
        "data": _prompts(8),
        "objective": "grpo",
        "rewards": [_exact(), _fuzzy()],
        "reward_weights": [0.8, 0.2],
        "epochs": 2,
        "batch_size": 2,
    }
    return ts.Job(**(base | fields))


def test_rft_run_completes_with_a_rising_reward(fireworks_env):
    events: list[Any] = []
    _job(num_generations=4, max_completion_length=64, temperature=0.9, beta=0.01).run(
        backend="fireworks", on_event=events.append, progress=False
    )
    assert isinstance(events[-1], Completed)
    progress = [e for e in events if isinstance(e, Progress)]
    assert [e.step for e in progress] == list(range(1, 9))  # 8 prompts / 2 per batch × 2 epochs
    assert all(e.percent is None and e.reward_mean is not None for e in progress)
    assert progress[-1].reward_mean > progress[0].reward_mean + 0.2
    assert [e.step for e in events if isinstance(e, Checkpoint)] == [8]

    state = fireworks_env.state
    [(kind, account, job_id)] = list(state.jobs)
    assert (kind, account) == ("grpo", ACCOUNT)
    body = state.jobs[(kind, account, job_id)].body
    assert body["evaluator"] == f"accounts/{ACCOUNT}/evaluators/{job_id}"
    assert body["lossConfig"] == {"klBeta": 0.01}
    assert body["inferenceParameters"] == {
        "responseCandidatesCount": 4,
        "maxOutputTokens": 64,
        "temperature": 0.9,
    }
    assert (ACCOUNT, job_id) in state.evaluators


def test_the_plan_names_the_evaluator_and_job_requests():
    plan = _job(loss_type="dapo").plan("fireworks")
    paths = [r.path for r in plan.requests]
    evaluator = next(r for r in plan.requests if r.path.endswith("/evaluatorsV2"))
    create = next(r for r in plan.requests if "reinforcementFineTuningJobs?" in r.path)
    assert paths.index(evaluator.path) < paths.index(create.path)
    code = evaluator.body["evaluator"]["criteria"][0]["codeSnippets"]
    assert code["entryFile"] == "main.py" and code["entryFunc"] == "evaluate"
    assert plan.native["lossConfig"] == {"method": "DAPO"}
    assert plan.row("rewards").native == "evaluator"


def test_the_generated_evaluator_scores_like_tunesdk_graders():
    graders = [_exact().to_openai(), _fuzzy().to_openai()]
    scope: dict[str, Any] = {}
    exec(compile(ev.source(graders, [0.8, 0.2]), "main.py", "exec"), scope)
    messages = [
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": "4!"},
    ]
    result = scope["evaluate"](messages, answer="4")
    expected = 0.8 * ts.graders.run(_exact(), {"output_text": "4!"}, {"answer": "4"})
    expected += 0.2 * ts.graders.run(_fuzzy(), {"output_text": "4!"}, {"answer": "4"})
    assert result["score"] == pytest.approx(expected)
    assert set(result["metrics"]) == {"exact", "close"}


def my_reward(prompts: list[Any], completions: list[Any], **columns: Any) -> list[float]:
    return [0.0 for _ in completions]


@pytest.mark.parametrize(
    ("reward", "words"),
    [
        (my_reward, "cannot ship the Python callable my_reward"),
        ("tests.fireworks.test_rft:my_reward", "cannot ship the reward function"),
        (_fuzzy("bleu"), "fuzzy_match only"),
    ],
)
def test_rewards_the_evaluator_cannot_run_are_refused_at_plan(fireworks_env, reward, words):
    with pytest.raises(JobError) as caught:
        _job(rewards=[_exact(), reward], reward_weights=None).plan("fireworks")
    assert words in str(caught.value) and "job.rewards[1]" in str(caught.value)
    assert fireworks_env.faults.requests == []


def test_orpo_runs_as_a_preference_job_with_the_orpo_loss(fireworks_env, samples):
    events: list[Any] = []
    job = ts.Job(model=MODEL, data=samples.dpo(6), objective="orpo", epochs=1, batch_size=2)
    plan = job.plan("fireworks")
    assert plan.native["lossConfig"] == {"method": "ORPO"}
    assert plan.row("objective").native == "dpoJobs"
    job.run(backend="fireworks", on_event=events.append, progress=False)
    assert isinstance(events[-1], Completed)
    assert [e.step for e in events if isinstance(e, Progress)] == [1, 2, 3]
    [(kind, _, job_id)] = list(fireworks_env.state.jobs)
    assert kind == "dpo"
    assert fireworks_env.state.jobs[(kind, ACCOUNT, job_id)].body["lossConfig"] == {
        "method": "ORPO"
    }


def test_kto_is_refused_in_the_plan():
    rows = [{"prompt": "hi", "completion": "yo", "label": True}] * 4
    with pytest.raises(JobError, match="Fireworks has no KTO"):
        ts.Job(model=MODEL, data=rows, objective="kto").plan("fireworks")


def test_emulator_refuses_an_evaluator_without_its_entry_function(sdk):
    from fireworks import BadRequestError

    with pytest.raises(BadRequestError, match="entryFunc 'evaluate' is not defined"):
        sdk.evaluators.create(
            evaluator_id="bad",
            evaluator={
                "criteria": [
                    {
                        "type": "CODE_SNIPPETS",
                        "code_snippets": {
                            "language": "python",
                            "entry_file": "main.py",
                            "entry_func": "evaluate",
                            "file_contents": {"main.py": "def other(messages):\n    return 1\n"},
                        },
                    }
                ]
            },
        )
