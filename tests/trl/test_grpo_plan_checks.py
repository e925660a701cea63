"""GRPO plan checks on trl: what reaches the worker, which methods generate, what beta runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import tunesdk as ts
from tunesdk.events import Progress
from tunesdk.store import RunRecord
from tunesdk_trl import TRLBackend
from tunesdk_trl.bottleneck_modules import load

from .test_grpo import count_o, grpo_job

MakeRecord = Callable[[ts.Job], RunRecord]

JUDGE_INPUT = [{"role": "user", "content": "Score {{sample.output_text}} from 0 to 1"}]


def _judge(messages: list[dict[str, Any]]) -> str:
    return "0.5"


def _score_model(**fields: Any) -> ts.graders.ScoreModel:
    return ts.graders.ScoreModel(name="judge", input=JUDGE_INPUT, **fields)


@pytest.mark.parametrize(
    ("grader", "says"),
    [
        (_score_model(model="gpt-4o-mini", judge=_judge), "has a Python callable as its judge"),
        (_score_model(model="gpt-4o-mini"), "'gpt-4o-mini', an OpenAI model name"),
        (
            ts.graders.Multi(
                name="both",
                graders={"j": _score_model(model="gpt-4o-mini", judge=_judge)},
                calculate_output="j",
            ),
            "has a Python callable as its judge",
        ),
        (
            ts.graders.TextSimilarity(
                name="cos",
                input="{{sample.output_text}}",
                reference="o",
                evaluation_metric="cosine",
                embedder=lambda texts: [[1.0] for _ in texts],
            ),
            "cosine metric",
        ),
    ],
)
def test_a_grader_the_worker_cannot_rebuild_is_refused_at_plan_with_the_fix(
    tiny_model_path: Path, grader: Any, says: str
) -> None:
    job = grpo_job(tiny_model_path, rewards=[count_o, grader])
    if "OpenAI" not in says:
        assert ts.graders.run(grader, "o", {}) >= 0  # it scores here, in this process
    with pytest.raises(ts.JobError) as info:
        job.plan("trl")
    error = info.value
    assert says in error.message and error.where == "job.rewards[1]"
    assert error.fix is not None
    if "judge" in says or "OpenAI" in says:
        assert "local:/path/to/model" in error.fix


def test_a_judge_given_as_a_model_uri_reaches_the_worker(tiny_model_path: Path) -> None:
    judge = _score_model(model=f"local:{tiny_model_path}")
    plan = grpo_job(tiny_model_path, rewards=[judge]).plan("trl")
    assert {row.option: row for row in plan.rows}["rewards"].value == ["judge"]


def test_grpo_plans_prefix_tuning_without_gradient_checkpointing(tiny_model_path: Path) -> None:
    """Generation sees the prefix (tunesdk_trl.inference.honour_prefix; trained in
    test_prefix_generate.py); checkpointing would drop it, as for SFT."""
    plan = grpo_job(tiny_model_path, method=ts.PrefixTuning(num_virtual_tokens=4)).plan("trl")
    assert plan.native["peft"]["class"] == "PrefixTuningConfig"
    assert plan.native["config"]["gradient_checkpointing"] is False


def test_the_unset_beta_row_shows_the_zero_grpo_trains_with(tiny_model_path: Path) -> None:
    plan = grpo_job(tiny_model_path).plan("trl")
    row = {row.option: row for row in plan.rows}["beta"]
    assert plan.native["config"]["beta"] == 0.0
    assert (row.status, row.value, row.native_value) == ("defaulted", 0.0, 0.0)
    assert row.reason is not None and row.reason.startswith("0, GRPOConfig's own default")
    set_row = {r.option: r for r in grpo_job(tiny_model_path, beta=0.04).plan("trl").rows}["beta"]
    assert (set_row.status, set_row.value, set_row.native_value) == ("mapped", 0.04, 0.04)


def test_grpo_trains_bottleneck_adapters(tiny_model_path: Path, make_record: MakeRecord) -> None:
    """The adapters are forward hooks, so generate() samples from the model that trains."""
    job = grpo_job(tiny_model_path, method=ts.Adapter(), batch_size=8, max_steps=2)
    record = make_record(job)
    handle = TRLBackend().train(record)
    assert len([e for e in record.events() if isinstance(e, Progress)]) == 2
    assert handle.kind == "adapter"
    assert Path(handle.path, "bottleneck_adapter.safetensors").exists()
    model = load(handle.path)
    ups = [p for name, p in model.named_parameters() if name.endswith("up.weight")]
    assert ups and any(float(p.detach().abs().sum()) > 0 for p in ups)  # moved off its zero start
