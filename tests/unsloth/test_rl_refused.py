"""The unsloth backend trains SFT and DPO: KTO and ORPO are refused in the plan, in its words."""

from __future__ import annotations

import pytest

import tunesdk as ts
from tunesdk.errors import JobError


@pytest.mark.parametrize("objective", ["kto", "orpo"])
def test_unsloth_says_it_does_not_run_kto_or_orpo_yet(objective):
    rows = (
        [{"prompt": "hi", "completion": "yo", "label": True}] * 4
        if objective == "kto"
        else [{"prompt": "hi", "chosen": "a", "rejected": "b"}] * 4
    )
    with pytest.raises(JobError) as caught:
        ts.Job(model="unsloth/Qwen2.5-0.5B", data=rows, objective=objective).plan("unsloth")
    assert f"does not run {objective.upper()} through Unsloth" in str(caught.value)
