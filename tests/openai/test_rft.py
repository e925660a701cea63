"""Reinforcement fine-tuning on OpenAI: graders in ``method.reinforcement``, RFT data, reward events.

Runs go through the official SDK against the emulator; the request body the emulator received is
checked against shared/specs/openai's schemas, and the plan refuses rewards OpenAI cannot run.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

import tunesdk as ts
from tunesdk.errors import DataError, JobError
from tunesdk.events import Completed, Evaluation, Progress

pytest.importorskip("tunesdk.run", reason="the core's run layer (tunesdk.run) is not installed")
pytestmark = pytest.mark.usefixtures("openai_env")

MODEL = "o4-mini-2025-04-16"


def _prompts(n: int, start: int = 1) -> list[dict[str, Any]]:
    return [
        {"prompt": f"What is {i} + {i}?", "answer": str(2 * i)} for i in range(start, start + n)
    ]


def _exact() -> Any:
    return ts.graders.StringCheck(
        name="exact", input="{{sample.output_text}}", reference="{{item.answer}}", operation="eq"
    )


def _fuzzy() -> Any:
    return ts.graders.TextSimilarity(
        name="close",
        input="{{sample.output_text}}",
        reference="{{item.answer}}",
        evaluation_metric="fuzzy_match",
    )


def _job(**fields: Any) -> ts.Job:
    base: dict[str, Any] = {
        "model": MODEL,
        "data": _prompts(12),
        "eval_data": _prompts(10, start=100),
        "objective": "grpo",
        "rewards": [_exact()],
        "epochs": 2,
        "batch_size": 4,
    }
    return ts.Job(**(base | fields))


def _only_job(emulator: Any) -> Any:
    [job] = emulator.world.jobs.values()
    return job


def test_rft_run_completes_with_reward_progress(emulator):
    events: list[Any] = []
    _job().run(backend="openai", on_event=events.append, progress=False)

    assert isinstance(events[-1], Completed)
    progress = [e for e in events if isinstance(e, Progress)]
    assert [e.step for e in progress] == list(range(1, 7))  # 12 prompts / batch 4 × 2 epochs
    rewards = [e.reward_mean for e in progress]
    assert all(r is not None and 0 <= r <= 1 for r in rewards)
    assert rewards[-1] > rewards[0] + 0.2  # the simulated curve rises
    assert all(e.reward_std is not None and e.train_loss is None for e in progress)
    valid = [e for e in events if isinstance(e, Evaluation)]
    assert valid and all("valid_reward_mean" in e.metrics and e.eval_loss is None for e in valid)

    remote = _only_job(emulator)
    assert remote.method == "reinforcement"
    assert remote.grader == _exact().to_openai()


def test_the_request_matches_the_spec_and_the_plan(emulator, specs):
    job = _job(backend_options={"openai": {"reasoning_effort": "low", "eval_interval": 2}})
    plan = job.plan("openai")
    method = plan.native["job"]["method"]
    assert method == {
        "type": "reinforcement",
        "reinforcement": {
            "grader": {
                "type": "string_check",
                "name": "exact",
                "input": "{{sample.output_text}}",
                "reference": "{{item.answer}}",
                "operation": "eq",
            },
            "hyperparameters": {
                "n_epochs": 2,
                "batch_size": 4,
                "reasoning_effort": "low",
                "eval_interval": 2,
            },
        },
    }
    job.run(backend="openai", progress=False)
    remote = _only_job(emulator)
    assert remote.request["method"] == method
    if not specs.available("openai"):
        pytest.skip("shared/specs/openai/openapi.yaml is not here")
    _check_request(specs, emulator, remote.request)


def _check_request(specs: Any, emulator: Any, body: dict[str, Any]) -> None:
    """openapi-core validates the create body against CreateFineTuningJobRequest."""
    from openapi_core.testing import MockRequest

    request = MockRequest(
        specs.servers["openai"],
        "post",
        "/v1/fine_tuning/jobs",
        data=json.dumps(body).encode(),
        headers={"Authorization": "Bearer sk-test"},
        content_type="application/json",
    )
    specs.openapi("openai").validate_request(request)


def test_several_graders_become_one_multi_grader(emulator):
    job = _job(rewards=[_exact(), _fuzzy()], reward_weights=[0.7, 0.3])
    grader = job.plan("openai").native["job"]["method"]["reinforcement"]["grader"]
    assert grader == {
        "type": "multi",
        "name": "tunesdk_rewards",
        "graders": {"exact": _exact().to_openai(), "close": _fuzzy().to_openai()},
        "calculate_output": "0.7 * exact + 0.3 * close",
    }
    # the same formula as tunesdk's own Multi grader accepts (and the emulator validates it)
    ts.graders.Multi.from_openai(grader)
    job.run(backend="openai", progress=False)
    assert _only_job(emulator).status == "succeeded"


def my_reward(prompts: list[Any], completions: list[Any], **columns: Any) -> list[float]:
    return [1.0 for _ in completions]


@pytest.mark.parametrize("reward", [my_reward, "tests.openai.test_rft:my_reward"])
def test_python_rewards_are_refused_at_plan_with_the_fix(emulator, reward):
    with pytest.raises(JobError) as caught:
        _job(rewards=[_exact(), reward]).plan("openai")
    error = caught.value
    assert "OpenAI cannot run" in str(error) and "job.rewards[1]" in str(error)
    assert "use a grader (ts.graders." in str(error)
    assert emulator.faults.requests == []


def test_rft_needs_a_validation_file():
    with pytest.raises(JobError, match="validation file"):
        _job(eval_data=None).plan("openai")


def test_kto_is_refused_in_the_plan():
    rows = [{"prompt": "hi", "completion": "hello", "label": True}] * 12
    with pytest.raises(JobError, match="OpenAI has no KTO"):
        ts.Job(model="gpt-4.1-mini", data=rows, objective="kto").plan("openai")


def _uploaded(emulator: Any) -> list[dict[str, Any]]:
    training = emulator.world.files[_only_job(emulator).training_file]
    return [json.loads(line) for line in training.content.decode().splitlines()]


def test_trl_prompt_rows_are_uploaded_in_the_rft_shape(emulator):
    _job().run(backend="openai", progress=False)
    assert _uploaded(emulator)[0] == {
        "messages": [{"role": "user", "content": "What is 1 + 1?"}],
        "answer": "2",
    }


def test_rft_messages_rows_are_uploaded_as_they_are(emulator):
    rows = [
        {
            "messages": [
                {"role": "developer", "content": "Add."},
                {"role": "user", "content": f"{i}+{i}"},
            ],
            "answer": str(2 * i),
        }
        for i in range(12)
    ]
    _job(data=rows).run(backend="openai", progress=False)
    assert _uploaded(emulator) == rows


def test_a_final_assistant_turn_is_a_data_error_naming_the_row():
    from tunesdk_openai.rft import rft_row

    row = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    with pytest.raises(DataError) as caught:
        rft_row(row, "train.jsonl:12")
    assert "end on a user turn" in str(caught.value) and "train.jsonl:12" in str(caught.value)
    assert "{{item.answer}}" in str(caught.value.fix)


def test_emulator_validates_the_grader_itself(emulator, api_key):
    import openai

    client = openai.OpenAI(base_url=emulator.base_url, api_key=api_key, max_retries=0)
    data = "\n".join(
        json.dumps({"messages": [{"role": "user", "content": "q"}], "answer": "a"})
        for _ in range(10)
    ).encode()
    file_id = client.files.create(file=("t.jsonl", data), purpose="fine-tune").id
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(
            model=MODEL,
            training_file=file_id,
            validation_file=file_id,
            method={
                "type": "reinforcement",
                "reinforcement": {
                    "grader": {"type": "string_check", "name": "g", "input": "x", "operation": "is"}
                },
            },
        )
    assert caught.value.body["param"] == "method.reinforcement.grader"
    assert "reference is required" in caught.value.body["message"]


def test_emulator_runs_and_validates_graders(emulator, api_key, specs):
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=emulator.url, headers=headers) as http:
        grader = ts.graders.Multi(
            name="m",
            graders={"exact": _exact(), "close": _fuzzy()},
            calculate_output="0.5 * exact + 0.5 * close",
        ).to_openai()
        ran = http.post(
            "/v1/fine_tuning/alpha/graders/run",
            json={"grader": grader, "model_sample": "4", "item": {"answer": "4"}},
        )
        validated = http.post("/v1/fine_tuning/alpha/graders/validate", json={"grader": grader})
        python = http.post(
            "/v1/fine_tuning/alpha/graders/run",
            json={
                "grader": {
                    "type": "python",
                    "name": "p",
                    "source": "def grade(sample, item):\n    return len(sample['output_text'])",
                },
                "model_sample": "abc",
            },
        )
    assert ran.status_code == 200 and ran.json()["reward"] == 1.0
    assert validated.json() == {"grader": grader}
    assert python.json()["reward"] == 3.0
    if specs.available("openai"):
        for response in (ran, python):
            assert specs.problems("openai", response) == []
