"""ts.regression: both models on one suite, drops beyond the threshold flagged."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk.errors import JobError, TuneError

from .conftest import Reply, last_user

FACTS = {f"fact {i}": f"answer {i}" for i in range(10)}


def knows(count: int) -> Reply:
    """A model that answers the first ``count`` facts right."""

    def reply(messages: list[dict]) -> str:
        question = last_user(messages)
        return FACTS[question] if int(question.split()[1]) < count else "no idea"

    return reply


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    path = tmp_path / "general.jsonl"
    rows = [{"question": q, "answer": a} for q, a in FACTS.items()]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_a_drop_beyond_the_threshold_is_flagged(
    fake_models: Callable[[str, Reply], ts.ProviderModel], suite: Path
) -> None:
    report = ts.regression(
        fake_models("base", knows(9)),
        fake_models("tuned", knows(6)),
        suite,
        metrics=["exact_match"],
    )
    assert report.regressed and report.regressed_metrics == ["exact_match"]
    change = report.changes[0]
    assert (change.base, change.tuned, change.delta) == pytest.approx((0.9, 0.6, -0.3))
    assert report.base.n == report.tuned.n == 10
    assert "REGRESSED" in str(report) and "-0.3000" in str(report)


def test_a_drop_within_the_threshold_passes(
    fake_models: Callable[[str, Reply], ts.ProviderModel], suite: Path
) -> None:
    base, tuned = fake_models("base", knows(9)), fake_models("tuned", knows(8))
    loose = ts.regression(base, tuned, suite, threshold=0.1, metrics=["exact_match", "f1"])
    assert not loose.regressed and [c.metric for c in loose.changes] == ["exact_match", "f1"]
    # exactly at the threshold is not a regression; a hair below it is
    assert not ts.regression(base, tuned, suite, threshold=0.1, metrics=["exact_match"]).regressed
    assert ts.regression(base, tuned, suite, threshold=0.09, metrics=["exact_match"]).regressed


def test_improvements_never_regress(
    fake_models: Callable[[str, Reply], ts.ProviderModel], suite: Path
) -> None:
    report = ts.regression(fake_models("b", knows(2)), fake_models("t", knows(10)), suite, limit=4)
    assert not report.regressed and report.tuned.n == 4
    assert all(change.delta >= 0 for change in report.changes)


def test_bad_threshold_and_metric_fail_early(
    fake_models: Callable[[str, Reply], ts.ProviderModel], suite: Path
) -> None:
    never = fake_models("never", lambda messages: pytest.fail("must not be asked"))
    with pytest.raises(JobError, match="threshold"):
        ts.regression(never, never, suite, threshold=2)
    with pytest.raises(JobError, match="did you mean 'accuracy'"):
        ts.regression(never, never, suite, metrics=["acuracy"])


@pytest.mark.skipif(importlib.util.find_spec("lm_eval") is not None, reason="lm_eval installed")
def test_lm_eval_suites_say_how_to_get_lm_eval(
    fake_models: Callable[[str, Reply], ts.ProviderModel],
) -> None:
    never = fake_models("never", lambda messages: pytest.fail("must not be asked"))
    with pytest.raises(TuneError, match="lm_eval package") as info:
        ts.regression(never, never, "lm_eval:hellaswag")
    assert "pip install lm-eval" in str(info.value)
