"""``regression``: did fine-tuning cost general ability? Score base and tuned on one suite."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from tunesdk.errors import JobError
from tunesdk.evaluation.evaluate import evaluate
from tunesdk.evaluation.examples import load_examples
from tunesdk.evaluation.lm_eval_suite import PREFIX, lm_eval_rows
from tunesdk.evaluation.metrics import Metric, resolve_metrics
from tunesdk.evaluation.report import EvalReport, render
from tunesdk.models import ModelHandle


class MetricChange(BaseModel):
    """One metric on both models; ``regressed`` when it fell by more than the threshold."""

    model_config = ConfigDict(frozen=True)

    metric: str
    base: float
    tuned: float
    delta: float
    regressed: bool


class RegressionReport(BaseModel):
    """Base and tuned scores on the suite; ``regressed`` is True when any metric dropped by more
    than ``threshold`` (absolute)."""

    model_config = ConfigDict(frozen=True)

    threshold: float
    changes: list[MetricChange]
    base: EvalReport
    tuned: EvalReport

    @property
    def regressed(self) -> bool:
        """True when any metric dropped by more than the threshold."""
        return any(change.regressed for change in self.changes)

    @property
    def regressed_metrics(self) -> list[str]:
        """The metrics that dropped by more than the threshold."""
        return [change.metric for change in self.changes if change.regressed]

    def __str__(self) -> str:
        from rich.table import Table

        verdict = "REGRESSED" if self.regressed else "no regression"
        table = Table(
            title=f"{verdict} (threshold {self.threshold:g} absolute, n={self.tuned.n})",
            title_justify="left",
        )
        for column in ("metric", "base", "tuned", "delta", ""):
            table.add_column(column, justify="left" if column == "metric" else "right")
        for change in self.changes:
            flag = "dropped" if change.regressed else ""
            table.add_row(
                change.metric,
                f"{change.base:.4f}",
                f"{change.tuned:.4f}",
                f"{change.delta:+.4f}",
                flag,
            )
        return render(table)


def regression(
    base: ModelHandle,
    tuned: ModelHandle,
    suite: Any,
    *,
    threshold: float = 0.02,
    metrics: Sequence[str | Metric] = ("exact_match", "f1"),
    max_new_tokens: int = 256,
    limit: int | None = None,
    **generation: Any,
) -> RegressionReport:
    """Evaluate both models on ``suite`` and flag every metric where the tuned model scores more
    than ``threshold`` below the base (absolute: 0.02 = 2 points on a 0–1 metric).

    ``suite``: your general-ability questions with references (a JSONL path or rows that
    `evaluate` reads), or ``"lm_eval:task1,task2"`` for lm-evaluation-harness tasks
    (optional; see `tunesdk.evaluation.lm_eval_suite`). ``limit``: examples (per lm_eval task).
    """
    if not 0 <= threshold < 1:
        raise JobError(
            f"threshold must be in [0, 1), got {threshold}",
            where="threshold",
            fix="give the largest acceptable absolute drop, e.g. 0.02",
        )
    resolve_metrics(metrics)  # unknown names fail before any generation
    if isinstance(suite, str) and suite.startswith(PREFIX):
        data: Any = lm_eval_rows(suite, limit=limit)
        limit = None
    else:
        data = load_examples(suite, limit=limit)  # read once, used for both models
    base_report = evaluate(base, data, metrics, max_new_tokens=max_new_tokens, **generation)
    tuned_report = evaluate(tuned, data, metrics, max_new_tokens=max_new_tokens, **generation)
    changes = []
    for name in base_report.columns:
        before, after = base_report.aggregate[name], tuned_report.aggregate[name]
        delta = after - before
        changes.append(
            MetricChange(
                metric=name,
                base=before,
                tuned=after,
                delta=delta,
                regressed=-delta > threshold + 1e-9,
            )
        )
    return RegressionReport(
        threshold=threshold, changes=changes, base=base_report, tuned=tuned_report
    )


__all__ = ["MetricChange", "RegressionReport", "regression"]
