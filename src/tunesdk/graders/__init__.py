"""Portable graders: OpenAI's grader vocabulary, runnable locally as reward functions.

    import tunesdk as ts
    exact = ts.graders.StringCheck(
        name="exact", input="{{sample.output_text}}", reference="{{item.answer}}", operation="eq"
    )
    ts.graders.run(exact, "42", {"answer": "42"})        # 1.0, like OpenAI's /graders/run
    job = ts.Job(..., objective="grpo", rewards=[exact])  # a reward function for TRL's GRPO
    exact.to_openai()                                     # the JSON OpenAI's spec defines

Light to import: metric packages (rouge-score, NLTK, rapidfuzz) load on first use.
"""

from tunesdk.graders.errors import GraderError
from tunesdk.graders.kinds import (
    AnyGrader,
    Grader,
    Multi,
    Python,
    SamplingParams,
    ScoreModel,
    StringCheck,
    TextSimilarity,
)
from tunesdk.graders.running import (
    GraderReward,
    parse,
    reward_function,
    run,
    sample_from,
    validate,
)

__all__ = [
    "AnyGrader",
    "Grader",
    "GraderError",
    "GraderReward",
    "Multi",
    "Python",
    "SamplingParams",
    "ScoreModel",
    "StringCheck",
    "TextSimilarity",
    "parse",
    "reward_function",
    "run",
    "sample_from",
    "validate",
]
