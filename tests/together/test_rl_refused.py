"""Together trains SFT and DPO only: GRPO, KTO and ORPO are refused in the plan, in its words."""

from __future__ import annotations

from typing import Any

import pytest

import tunesdk as ts
from tunesdk.errors import JobError

MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"


def _grader() -> Any:
    return ts.graders.StringCheck(
        name="exact", input="{{sample.output_text}}", reference="{{item.answer}}", operation="eq"
    )


@pytest.mark.parametrize(
    ("objective", "fields", "words"),
    [
        (
            "grpo",
            {"data": [{"prompt": "1+1?", "answer": "2"}] * 4, "rewards": [_grader()]},
            "no reinforcement learning (GRPO)",
        ),
        ("kto", {"data": [{"prompt": "hi", "completion": "yo", "label": True}] * 4}, "no KTO"),
        ("orpo", {"data": [{"prompt": "hi", "chosen": "a", "rejected": "b"}] * 4}, "no ORPO"),
    ],
)
def test_together_refuses_objectives_it_lacks(objective, fields, words):
    job = ts.Job(model=MODEL, objective=objective, **fields)
    with pytest.raises(JobError) as caught:
        job.plan("together")
    assert "Together's fine-tuning jobs train SFT or DPO only" in str(caught.value)
    assert words in str(caught.value)
    assert caught.value.where == "job.objective"
