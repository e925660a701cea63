"""Rewards on a Job: references, callables, refusals, resolution and the checked wrapper."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk.errors import DataError, JobError
from tunesdk.rewards import (
    RewardError,
    checked,
    import_reward,
    reference,
    required_columns,
    resolve_rewards,
    reward_name,
)

PROMPTS = [{"prompt": "2+2?", "answer": "4"}, {"prompt": "3+3?", "answer": "6"}]


def exact(
    prompts: list[str], completions: list[str], *, answer: list[str], **_: object
) -> list[float]:
    return [float(c.strip() == a) for c, a in zip(completions, answer, strict=True)]


def length(prompts: list[str], completions: list[str], **_: object) -> list[float]:
    return [len(c) / 10 for c in completions]


def test_an_importable_callable_is_stored_as_its_reference() -> None:
    job = ts.Job(model="m", data=PROMPTS, rewards=[exact, "pkg.mod:fn"])
    assert job.rewards[0] is exact
    stored = job.to_dict()["rewards"]
    assert stored == [f"{__name__}:exact", "pkg.mod:fn"]
    again = ts.Job.from_dict(job.to_dict())
    assert again.rewards == stored
    assert resolve_rewards(ts.Job(model="m", data=PROMPTS, rewards=stored[:1])) == [exact]


def test_a_lambda_a_nested_function_and_main_are_refused_with_the_fix() -> None:
    def nested(prompts: list[str], completions: list[str], **_: object) -> list[float]:
        return [0.0] * len(completions)

    main_fn = lambda p, c, **k: [0.0] * len(c)  # noqa: E731
    for function, says in ((main_fn, "lambda"), (nested, "inside another")):
        with pytest.raises(JobError, match=says) as info:
            ts.Job(model="m", data=PROMPTS, rewards=[function]).to_dict()
        assert "module:function" in (info.value.fix or "")
    length.__module__ = "__main__"
    try:
        with pytest.raises(JobError, match="__main__"):
            reference(length)
    finally:
        length.__module__ = __name__


def test_a_malformed_reference_and_a_wrong_type_fail_at_construction() -> None:
    with pytest.raises(ValueError, match="module:function"):
        ts.Job(model="m", data=PROMPTS, rewards=["not a reference"])
    with pytest.raises(ValueError, match="rewards\\[0\\] is a int"):
        ts.Job(model="m", data=PROMPTS, rewards=[3])


def test_rewards_and_weights_must_agree_with_the_objective() -> None:
    with pytest.raises(ValueError, match="one weight per reward"):
        ts.Job(model="m", data=PROMPTS, rewards=[exact], reward_weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="objective: grpo"):
        ts.Job(model="m", data=PROMPTS, rewards=[exact], objective="dpo")
    with pytest.raises(ValueError, match="no rewards"):
        ts.Job(model="m", data=PROMPTS, objective="grpo")


def test_import_errors_name_what_is_missing() -> None:
    with pytest.raises(JobError, match="cannot import module 'no_such_mod_xyz'"):
        import_reward("no_such_mod_xyz:f")
    with pytest.raises(JobError, match="has no 'missing'"):
        import_reward(f"{__name__}:missing")


def test_required_columns_are_keyword_only_parameters_without_defaults() -> None:
    assert required_columns(exact) == {"answer"}
    assert required_columns(length) == frozenset()
    assert required_columns("m:f") == frozenset()
    assert reward_name("pkg.mod:score") == "score" and reward_name(exact) == "exact"


def test_objective_is_grpo_with_rewards_and_missing_columns_fail_with_file_and_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "prompts.jsonl"
    path.write_text('{"prompt": "2+2?", "answer": "4"}\n{"prompt": "3+3?"}\n')
    job = ts.Job(model="m", data=str(path), rewards=[exact])
    with pytest.raises(DataError, match=r"prompts.jsonl:2: no 'answer'"):
        job.infer_objective()
    good = ts.Job(model="m", data=PROMPTS, rewards=[exact])
    assert good.infer_objective() == "grpo"


@pytest.mark.parametrize(
    ("function", "says"),
    [
        (lambda prompts, completions, **_: 1 / 0, "raised ZeroDivisionError: division by zero"),
        (lambda prompts, completions, **_: [1.0], "returned 1 scores for 2 completions"),
        (lambda prompts, completions, **_: [1.0, math.nan], "returned nan at position 1"),
        (lambda prompts, completions, **_: 0.5, "returned a float, not a list"),
    ],
)
def test_checked_turns_misbehaviour_into_one_line(function: object, says: str) -> None:
    wrapped = checked(function, "bad")  # type: ignore[arg-type]
    with pytest.raises(RewardError) as info:
        wrapped(prompts=["a", "b"], completions=["x", "y"])
    assert says in str(info.value) and "\n" not in str(info.value)
    assert checked(length, "length")(prompts=["a"], completions=["xy"]) == [0.2]


def test_a_reference_is_not_imported_until_the_worker_resolves_it() -> None:
    job = ts.Job(model="m", data=PROMPTS, rewards=["pkg.never_imported:fn"])
    assert "pkg.never_imported" not in sys.modules and job.rewards == ["pkg.never_imported:fn"]


def test_a_grader_round_trips_through_json_and_names_the_columns_it_reads() -> None:
    grader = ts.graders.StringCheck(
        name="exact", input="{{sample.output_text}}", reference="{{item.answer}}", operation="eq"
    )
    job = ts.Job(model="m", data=[*PROMPTS, {"prompt": "5+5?"}], rewards=[grader])
    stored = job.to_dict()["rewards"]
    assert stored[0]["type"] == "string_check"
    assert ts.Job.from_dict(job.to_dict()).rewards == [grader]
    with pytest.raises(DataError, match=r"<list>:3: no 'answer' \(for 'exact'\)"):
        job.infer_objective()
    (function,) = resolve_rewards(ts.Job(model="m", data=PROMPTS, rewards=[grader]))
    assert function(prompts=["q", "q"], completions=["4", "5"], answer=["4", "6"]) == [1.0, 0.0]


def test_backends_without_the_objective_refuse_it_at_plan() -> None:
    with pytest.raises(JobError) as info:
        ts.Job(model="m", data=PROMPTS, rewards=["pkg.mod:fn"]).plan("together")
    assert info.value.where == "job.objective"
    kto = [{"prompt": "q", "completion": "a", "label": True}]
    with pytest.raises(JobError) as info:
        ts.Job(model="m", data=kto).plan("together")  # objective inferred: kto
    assert info.value.where == "job.objective"


def _judge_says_one(messages: list[dict[str, str]]) -> str:
    return "1"


@pytest.mark.parametrize("backend", ["trl", "unsloth", "tinker"])
def test_every_backend_whose_worker_scores_refuses_a_judge_callable_at_plan(backend: str) -> None:
    """The worker rebuilds graders from the job's JSON, where a judge callable does not go."""
    judge = ts.graders.ScoreModel(
        name="judge",
        model="gpt-4o-mini",
        input=[{"role": "user", "content": "{{sample.output_text}}"}],
        judge=_judge_says_one,
    )
    assert ts.graders.run(judge, "x") == 1.0  # fine in this process
    job = ts.Job(model="meta-llama/Llama-3.2-1B", data=PROMPTS, rewards=[judge], batch_size=8)
    with pytest.raises(JobError) as info:
        job.plan(backend)
    assert "judge" in info.value.message and info.value.where == "job.rewards[0]"
    assert "local:/path/to/model" in (info.value.fix or "")
