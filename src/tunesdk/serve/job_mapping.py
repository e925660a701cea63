"""A ``POST /v1/fine_tuning/jobs`` body → a `tunesdk.Job`, its backend and what the job shows.

OpenAI's fields map so (everything else in the body is refused with 400 naming it):

- ``model`` → ``Job.model``; a ``backend:`` prefix (``together:meta-llama/...``) picks the backend,
  as does ``extra_body={"backend": ...}``; neither: the server's default backend
- ``training_file`` / ``validation_file`` (ids of the caller's ``fine-tune`` files) → ``data`` /
  ``eval_data``
- ``method.type`` ``supervised`` / ``dpo`` / ``reinforcement`` → ``objective`` ``sft`` / ``dpo`` /
  ``grpo``; a reinforcement ``grader`` → ``rewards=[grader]`` (`tunesdk.graders`)
- hyperparameters (``method.<type>.hyperparameters`` or the older top-level ``hyperparameters``):
  ``n_epochs`` → ``epochs``, ``batch_size``, ``learning_rate_multiplier`` → ``learning_rate`` =
  multiplier × the method's default (2e-4 for LoRA), ``beta``, ``eval_interval`` → ``eval_steps``;
  ``"auto"`` keeps tunesdk's default. ``reasoning_effort``, ``compute_multiplier`` and
  ``eval_samples`` have no tunesdk equivalent: dropped, each with a warning event.
- ``suffix``, ``seed``; ``metadata`` is kept by the server; ``integrations`` (wandb) →
  ``report_to=["wandb"]`` + ``wandb_project``
- ``extra_body={"tunesdk": {...}}``: Job fields OpenAI's shape cannot say (``max_steps``,
  ``method={"kind": "lora", "r": 8}``, ``max_seq_length``, ...), from `TUNESDK_FIELDS` only — never
  paths, code or backend options, which would reach the server's files and accounts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tunesdk.errors import TuneError
from tunesdk.serve.errors import bad_request

METHODS = {"supervised": "sft", "dpo": "dpo", "reinforcement": "grpo"}
HYPERPARAMETERS = {
    "supervised": ("n_epochs", "batch_size", "learning_rate_multiplier"),
    "dpo": ("n_epochs", "batch_size", "learning_rate_multiplier", "beta"),
    "reinforcement": (
        "n_epochs",
        "batch_size",
        "learning_rate_multiplier",
        "reasoning_effort",
        "compute_multiplier",
        "eval_interval",
        "eval_samples",
    ),
}
#: hyperparameters OpenAI has and tunesdk does not: kept in the job object, dropped with a warning
UNMAPPED = {
    "reasoning_effort": "tunesdk has no reasoning effort setting",
    "compute_multiplier": "tunesdk has no compute multiplier; num_generations (extra_body"
    " tunesdk) sets the completions per prompt",
    "eval_samples": "tunesdk evaluates on the whole validation file",
}
#: Job fields a client may set through ``extra_body={"tunesdk": {...}}``
TUNESDK_FIELDS = frozenset(
    {
        "method",
        "epochs",
        "max_steps",
        "learning_rate",
        "batch_size",
        "micro_batch_size",
        "warmup_ratio",
        "lr_scheduler",
        "weight_decay",
        "max_grad_norm",
        "max_seq_length",
        "eval_split",
        "eval_steps",
        "n_checkpoints",
        "train_on_inputs",
        "packing",
        "beta",
        "num_generations",
        "max_completion_length",
        "temperature",
        "loss_type",
        "reward_weights",
        "name",
        "strict",
    }
)
KNOWN_FIELDS = frozenset(
    {
        "model",
        "training_file",
        "validation_file",
        "hyperparameters",
        "method",
        "suffix",
        "seed",
        "metadata",
        "integrations",
        "backend",
        "tunesdk",
    }
)
MAX_SEED = 2_147_483_647
REASONING_EFFORTS = ("default", "low", "medium", "high")


@dataclass
class JobRequest:
    """What one create request asks for, checked: the backend, the Job's fields and the
    OpenAI-side facts the job object reports (``requested`` hyperparameters as sent)."""

    backend: str
    model: str
    method: str
    fields: dict[str, Any]
    training_file: str
    validation_file: str | None
    requested: dict[str, Any]
    grader: dict[str, Any] | None = None
    suffix: str | None = None
    seed: int | None = None
    metadata: dict[str, str] | None = None
    integrations: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def parse_request(
    body: dict[str, Any], *, default_backend: str, backends: list[str], allow_python: bool
) -> JobRequest:
    """Check ``body`` field by field (400 naming the first wrong one) and map it."""
    unknown = sorted(set(body) - KNOWN_FIELDS)
    if unknown:
        raise bad_request(f"Unrecognized request argument supplied: {unknown[0]}", param=unknown[0])
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise bad_request("Missing required parameter: 'model'.", param="model")
    backend, model = _backend_and_model(
        model.strip(), body.get("backend"), default_backend, backends
    )
    training = body.get("training_file")
    if not isinstance(training, str) or not training:
        raise bad_request("Missing required parameter: 'training_file'.", param="training_file")
    validation = body.get("validation_file")
    if validation is not None and (not isinstance(validation, str) or not validation):
        raise bad_request("validation_file must be a file id.", param="validation_file")
    method, hyper, where, grader = _method(body, allow_python)
    request = JobRequest(
        backend=backend,
        model=model,
        method=method,
        fields={"objective": METHODS[method]},
        training_file=training,
        validation_file=validation,
        requested={},
        grader=grader,
    )
    _hyperparameters(request, hyper, where)
    if grader is not None:
        request.fields["rewards"] = [grader]
    request.suffix = _suffix(body.get("suffix"))
    if request.suffix is not None:
        request.fields["suffix"] = request.suffix
    request.seed = _seed(body.get("seed"))
    if request.seed is not None:
        request.fields["seed"] = request.seed
    request.metadata = _metadata(body.get("metadata"))
    request.integrations = _integrations(body.get("integrations"), request)
    _tunesdk_fields(body.get("tunesdk"), request)
    return request


def _backend_and_model(
    model: str, named: Any, default_backend: str, backends: list[str]
) -> tuple[str, str]:
    if named is not None and (not isinstance(named, str) or not named):
        raise bad_request("backend must be the name of a tunesdk backend.", param="backend")
    prefix, sep, rest = model.partition(":")
    from_model = prefix if sep and rest and prefix in backends else None
    if from_model and named and named != from_model:
        raise bad_request(
            f"The model names backend {from_model!r} but extra_body backend is {named!r}: give"
            " one of them.",
            param="backend",
        )
    backend = from_model or named or default_backend
    if backend not in backends:
        raise bad_request(
            f"Unknown backend {backend!r}: this server has {', '.join(backends)}.",
            param="backend",
            code="backend_not_found",
        )
    return backend, (rest if from_model else model)


def _method(
    body: dict[str, Any], allow_python: bool
) -> tuple[str, dict[str, Any], str, dict[str, Any] | None]:
    method = body.get("method")
    if method is None:
        hyper = body.get("hyperparameters") or {}
        if not isinstance(hyper, dict):
            raise bad_request("hyperparameters must be an object.", param="hyperparameters")
        return "supervised", hyper, "hyperparameters", None
    if not isinstance(method, dict) or method.get("type") not in METHODS:
        raise bad_request(
            "method.type must be one of 'supervised', 'dpo' or 'reinforcement'.",
            param="method.type",
        )
    kind = str(method["type"])
    extra = sorted(set(method) - {"type", kind})
    if extra:
        raise bad_request(
            f"method.{extra[0]} does not belong to a {kind!r} method.", param=f"method.{extra[0]}"
        )
    settings = method.get(kind) or {}
    if not isinstance(settings, dict):
        raise bad_request(f"method.{kind} must be an object.", param=f"method.{kind}")
    allowed = {"hyperparameters"} | ({"grader"} if kind == "reinforcement" else set())
    extra = sorted(set(settings) - allowed)
    if extra:
        raise bad_request(
            f"Unrecognized argument method.{kind}.{extra[0]}.", param=f"method.{kind}.{extra[0]}"
        )
    if body.get("hyperparameters"):
        raise bad_request(
            "Give hyperparameters in method.<type>.hyperparameters, not also at the top level.",
            param="hyperparameters",
        )
    hyper = settings.get("hyperparameters") or {}
    if not isinstance(hyper, dict):
        raise bad_request(
            f"method.{kind}.hyperparameters must be an object.",
            param=f"method.{kind}.hyperparameters",
        )
    grader = _grader(settings.get("grader"), allow_python) if kind == "reinforcement" else None
    return kind, hyper, f"method.{kind}.hyperparameters", grader


def _grader(grader: Any, allow_python: bool) -> dict[str, Any]:
    param = "method.reinforcement.grader"
    if not isinstance(grader, dict):
        raise bad_request("Missing required parameter: 'grader'.", param=param)
    from tunesdk.graders import GraderError, validate

    if not allow_python and _has_python(grader):
        raise bad_request(
            "Python graders are refused by this server: their code would run on the server's"
            " machine. Use string_check, text_similarity, score_model or multi graders, or start"
            " the server with --allow-python-graders if every key holder may run code there.",
            param=param,
            code="invalid_grader",
        )
    try:
        validate(grader)
    except (GraderError, ValueError, TypeError, SyntaxError) as exc:
        raise bad_request(f"Invalid grader: {exc}", param=param, code="invalid_grader") from None
    return dict(grader)


def _has_python(grader: Any) -> bool:
    if not isinstance(grader, dict):
        return False
    if grader.get("type") == "python":
        return True
    inner = grader.get("graders")
    values = inner.values() if isinstance(inner, dict) else inner if isinstance(inner, list) else []
    return any(_has_python(g) for g in values)


def _number(
    value: Any, param: str, *, whole: bool, low: float, high: float | None, open_low: bool = False
) -> Any:
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    ok = numeric and (not whole or isinstance(value, int)) and math.isfinite(value)
    ok = ok and (value > low if open_low else value >= low) and (high is None or value <= high)
    if not ok:
        kind = "a whole number" if whole else "a number"
        bounds = f"from {low:g} to {high:g}" if high is not None else f"above {low:g}"
        raise bad_request(
            f"Invalid {param.rsplit('.', 1)[-1]} {value!r}: use 'auto' or {kind} {bounds}.",
            param=param,
        )
    return value


def _hyperparameters(request: JobRequest, hyper: dict[str, Any], where: str) -> None:
    allowed = HYPERPARAMETERS[request.method]
    unknown = sorted(set(hyper) - set(allowed))
    if unknown:
        raise bad_request(
            f"Unrecognized hyperparameter {unknown[0]!r} for a {request.method} job.",
            param=f"{where}.{unknown[0]}",
        )
    requested: dict[str, Any] = {}
    for key in allowed:
        value = hyper.get(key, "default" if key == "reasoning_effort" else "auto")
        requested[key] = value
        param = f"{where}.{key}"
        if value == ("default" if key == "reasoning_effort" else "auto"):
            continue
        if key == "n_epochs":
            request.fields["epochs"] = _number(value, param, whole=True, low=1, high=50)
        elif key == "batch_size":
            request.fields["batch_size"] = _number(value, param, whole=True, low=1, high=256)
        elif key == "learning_rate_multiplier":
            request.fields["_lr_multiplier"] = _number(
                value, param, whole=False, low=0, high=None, open_low=True
            )
        elif key == "beta":
            request.fields["beta"] = _number(
                value, param, whole=False, low=0, high=2, open_low=True
            )
        elif key == "eval_interval":
            request.fields["eval_steps"] = _number(value, param, whole=True, low=1, high=None)
        elif key == "reasoning_effort":
            if value not in REASONING_EFFORTS:
                raise bad_request(
                    f"Invalid reasoning_effort {value!r}: use one of {', '.join(REASONING_EFFORTS)}.",
                    param=param,
                )
            request.warnings.append(f"{key}={value!r} dropped: {UNMAPPED[key]}")
        else:  # compute_multiplier, eval_samples
            high = 10 if key == "compute_multiplier" else None
            _number(value, param, whole=key == "eval_samples", low=0, high=high, open_low=True)
            request.warnings.append(f"{key}={value!r} dropped: {UNMAPPED[key]}")
    request.requested = requested


def _suffix(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= 40:
        raise bad_request(
            "suffix must be a string of 1 to 40 characters (tunesdk's limit; OpenAI allows 64).",
            param="suffix",
        )
    return value


def _seed(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_SEED:
        raise bad_request(f"seed must be a whole number from 0 to {MAX_SEED}.", param="seed")
    return value


def is_metadata(value: Any) -> bool:
    """OpenAI's rule for ``metadata``: at most 16 string keys of up to 64 characters, each to a
    string of up to 512 (also the OpenAI emulator's check)."""
    return (
        isinstance(value, dict)
        and len(value) <= 16
        and all(
            isinstance(k, str) and isinstance(v, str) and len(k) <= 64 and len(v) <= 512
            for k, v in value.items()
        )
    )


def _metadata(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not is_metadata(value):
        raise bad_request(
            "metadata must map at most 16 string keys (64 characters each) to string values"
            " (512 characters each).",
            param="metadata",
        )
    return dict(value)


def _integrations(value: Any, request: JobRequest) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 5:
        raise bad_request("integrations must be a list of at most 5 objects.", param="integrations")
    kept = []
    for i, item in enumerate(value):
        wandb = item.get("wandb") if isinstance(item, dict) else None
        if not isinstance(item, dict) or item.get("type") != "wandb" or not isinstance(wandb, dict):
            raise bad_request(
                "Only 'wandb' integrations are supported.", param=f"integrations[{i}]"
            )
        project = wandb.get("project")
        if not isinstance(project, str) or not project:
            raise bad_request(
                "Missing required parameter: 'project'.", param=f"integrations[{i}].wandb.project"
            )
        request.fields["report_to"] = ["wandb"]
        request.fields["wandb_project"] = project
        dropped = sorted(set(wandb) - {"project"})
        if dropped:
            request.warnings.append(
                f"integrations[{i}].wandb {', '.join(dropped)} dropped: tunesdk sets the W&B"
                " project only (entity, name and tags come from the server's WANDB_* environment)"
            )
        kept.append({"type": "wandb", "wandb": dict(wandb)})
    return kept


def _tunesdk_fields(value: Any, request: JobRequest) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise bad_request("tunesdk must be an object of Job fields.", param="tunesdk")
    refused = sorted(set(value) - TUNESDK_FIELDS)
    if refused:
        raise bad_request(
            f"tunesdk.{refused[0]} cannot be set through the server (allowed:"
            f" {', '.join(sorted(TUNESDK_FIELDS))}).",
            param=f"tunesdk.{refused[0]}",
        )
    request.fields.update(value)


def build_job(request: JobRequest, data: Path, eval_data: Path | None) -> Any:
    """The `tunesdk.Job` (400 naming the field pydantic refused)."""
    from tunesdk.job import Job

    fields = dict(request.fields)
    multiplier = fields.pop("_lr_multiplier", None)
    fields.update(model=request.model, data=str(data))
    if eval_data is not None:
        fields["eval_data"] = str(eval_data)
    try:
        job = Job(**fields)
        if multiplier is not None and "learning_rate" not in fields:
            job = Job(**fields, learning_rate=job.method.default_learning_rate * multiplier)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(part) for part in first["loc"])
        param = _param_of(loc, multiplier is not None, request)
        raise bad_request(f"Invalid {param}: {first['msg']}", param=param) from None
    except TuneError as exc:  # Job wraps pydantic's errors as "field.path: problem"
        head, sep, problem = exc.message.partition(": ")
        loc = (exc.where or (head if sep and " " not in head else "job")).removeprefix("job.")
        param = _param_of(loc, multiplier is not None, request)
        text = problem if sep and " " not in head else exc.message
        fix = f" (fix: {exc.fix})" if exc.fix else ""
        raise bad_request(f"Invalid {param}: {text}{fix}", param=param) from None
    return job


def _param_of(loc: str, has_multiplier: bool, request: JobRequest) -> str:
    top = loc.split(".", 1)[0]
    if top == "learning_rate" and has_multiplier:
        return f"{_where(request)}.learning_rate_multiplier"
    openai_names = {"epochs": "n_epochs", "batch_size": "batch_size", "beta": "beta"}
    if top in openai_names:
        return f"{_where(request)}.{openai_names[top]}"
    if top in ("suffix", "seed", "model"):
        return top
    return f"tunesdk.{loc}"


def _where(request: JobRequest) -> str:
    return f"method.{request.method}.hyperparameters"


__all__ = [
    "HYPERPARAMETERS",
    "KNOWN_FIELDS",
    "MAX_SEED",
    "METHODS",
    "REASONING_EFFORTS",
    "TUNESDK_FIELDS",
    "JobRequest",
    "build_job",
    "is_metadata",
    "parse_request",
]
