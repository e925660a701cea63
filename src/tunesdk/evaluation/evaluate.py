"""``evaluate``: generate answers for held-out examples with any model handle and score them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tunesdk.evaluation.examples import load_examples
from tunesdk.evaluation.generation import ask, describe
from tunesdk.evaluation.metrics import Metric, mean_scores, resolve_metrics, score
from tunesdk.evaluation.report import EvalReport, ExampleResult
from tunesdk.models import ModelHandle

DEFAULT_METRICS = ("exact_match", "f1", "rouge")


def evaluate(
    model: ModelHandle,
    data: Any,
    metrics: Sequence[str | Metric] = DEFAULT_METRICS,
    *,
    max_new_tokens: int = 256,
    limit: int | None = None,
    **generation: Any,
) -> EvalReport:
    """Answer each example of ``data`` with ``model.chat`` and score the answers.

    ``data``: chat examples (last assistant turn = reference), prompt/completion pairs, or
    ``{"question", "answer"}`` / ``{"prompt", "reference"}`` rows, as a path, list, or dataset.
    ``metrics``: names from ``tunesdk.evaluation.METRICS`` or functions
    ``(prediction, reference) -> float``. ``limit``: only the first N examples. Extra keyword
    arguments go to ``model.chat`` (e.g. ``temperature``); decoding is the backend's default
    (greedy for local models). Metric names and data are checked before anything is generated.
    """
    chosen = resolve_metrics(metrics)
    examples = load_examples(data, limit=limit)
    results = []
    for example in examples:
        prediction = ask(model, example.prompt, max_new_tokens, **generation)
        results.append(
            ExampleResult(
                id=example.id,
                prompt=example.prompt_text,
                reference=example.reference,
                prediction=prediction,
                scores=score(chosen, prediction, example.reference),
            )
        )
    aggregate = mean_scores([r.scores for r in results])
    return EvalReport(
        model=describe(model),
        columns=list(aggregate),
        aggregate=aggregate,
        n=len(results),
        examples=results,
    )


__all__ = ["DEFAULT_METRICS", "evaluate"]
