"""What of a job's rewards survives leaving this process.

- To a provider that runs graders itself (OpenAI's reinforcement fine-tuning, a Fireworks
  evaluator): every reward must be a grader, sent as its OpenAI JSON (`provider_graders`).
- To a local training worker (a separate process that reads the job's JSON): the local-only
  fields (a ScoreModel's ``judge`` callable, a TextSimilarity ``embedder``) are not serialized,
  so a grader that needs one cannot score there (`worker_problem`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tunesdk.errors import JobError

if TYPE_CHECKING:
    from tunesdk.job import Job

#: the ``type`` of every grader in OpenAI's vocabulary (a reward given as grader JSON)
GRADER_TYPES = ("string_check", "text_similarity", "python", "score_model", "multi")


def grader_json(reward: Any) -> dict[str, Any] | None:
    """A reward's OpenAI grader JSON, or None when it is not a grader (a callable, a
    ``"module:function"`` string)."""
    to_openai = getattr(reward, "to_openai", None)
    if callable(to_openai) and not callable(reward):
        found = to_openai()
        return dict(found) if isinstance(found, dict) else None
    if isinstance(reward, dict) and reward.get("type") in GRADER_TYPES:
        return dict(reward)
    return None


def describe_reward(reward: Any) -> str:
    """``the reward function 'pkg:fn'`` or ``the Python callable fn``, for error messages."""
    if isinstance(reward, str):
        return f"the reward function {reward!r}"
    name = getattr(reward, "__qualname__", None) or type(reward).__name__
    return f"the Python callable {name}"


def provider_graders(job: Job, *, needs: str, cannot: str, fix: str) -> list[dict[str, Any]]:
    """The job's rewards as grader JSON, in order, for a provider that runs graders.

    JobError ``"<needs>, and the job has no rewards"`` without rewards, and ``cannot`` (with
    ``{what}`` filled by `describe_reward`) with ``fix`` for a reward that is not a grader."""
    rewards = list(getattr(job, "rewards", None) or [])
    if not rewards:
        raise JobError(
            f"{needs}, and the job has no rewards",
            where="job.rewards",
            fix="set rewards=[ts.graders.StringCheck(name=..., input='{{sample.output_text}}', "
            "reference='{{item.answer}}', operation='eq')]",
        )
    found: list[dict[str, Any]] = []
    for index, reward in enumerate(rewards):
        grader = grader_json(reward)
        if grader is None:
            raise JobError(
                cannot.format(what=describe_reward(reward)),
                where=f"job.rewards[{index}]",
                fix=fix,
            )
        found.append(grader)
    return found


WORKER_JUDGE_FIX = (
    "give the judge as a model the worker can load: ScoreModel(model='local:/path/to/model') "
    "(or another tunesdk model URI, e.g. 'together:acct/model-id'); a judge callable only "
    "works with ts.graders.run in this process"
)


def worker_problem(grader: Any) -> tuple[str, str] | None:
    """(what, fix) when ``grader`` (or a grader inside a Multi) cannot score in a training worker
    that rebuilds it from JSON; None when it can."""
    from tunesdk.graders.kinds import Multi, ScoreModel, TextSimilarity

    parts = [grader, *grader.graders.values()] if isinstance(grader, Multi) else [grader]
    for part in parts:
        if isinstance(part, ScoreModel):
            if part.judge is not None:
                return (
                    f"grader {part.name!r} has a Python callable as its judge, which does not "
                    "reach the training worker (a separate process that reads the job's JSON)",
                    WORKER_JUDGE_FIX,
                )
            if ":" not in part.model:
                return (
                    f"grader {part.name!r} names the judge {part.model!r}, an OpenAI model "
                    "name, which a local training worker cannot ask",
                    WORKER_JUDGE_FIX,
                )
        if isinstance(part, TextSimilarity) and part.evaluation_metric == "cosine":
            return (
                f"grader {part.name!r} uses the cosine metric, whose embedder (a Python "
                "callable) does not reach the training worker",
                "use fuzzy_match, bleu or rouge_* for local training, or compute the "
                "embeddings inside ts.graders.Python(source=...)",
            )
    return None


__all__ = [
    "GRADER_TYPES",
    "WORKER_JUDGE_FIX",
    "describe_reward",
    "grader_json",
    "provider_graders",
    "worker_problem",
]
