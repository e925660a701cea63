"""Job → OpenAI fine-tuning request, and the fate of every Job option (the plan).

One function, `job_request`, builds the ``POST /v1/fine_tuning/jobs`` body: the plan shows it
with placeholders for the file ids and the run id, and the backend sends it with the real ones, so
the plan is exactly what OpenAI receives.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tunesdk.backend import NativeRequest, Plan, PlanBuilder, option_value
from tunesdk.errors import JobError
from tunesdk_openai import rft
from tunesdk_openai.models import resolve

if TYPE_CHECKING:
    from tunesdk.job import Job

BACKEND = "openai"
RUN_ID_KEY = "tunesdk_run_id"
MAX_SEED = 2_147_483_647
#: files above this size go through the Uploads API in parts (the Files API takes up to 512 MB)
DEFAULT_UPLOAD_THRESHOLD = 512 * 1024**2
DEFAULT_PART_BYTES = 64 * 1024**2

#: backend_options["openai"] keys: name -> what it does (unknown keys are a plan-time error)
OPTIONS: dict[str, str] = {
    "base_url": "an OpenAI-compatible API root, e.g. http://localhost:8000/v1",
    "api_key": "the key (prefer the OPENAI_API_KEY / AZURE_OPENAI_API_KEY variables)",
    "organization": "OpenAI organization id (else OPENAI_ORG_ID)",
    "project": "OpenAI project id (else OPENAI_PROJECT_ID)",
    "azure_endpoint": "use Azure OpenAI at this endpoint (AzureOpenAI client)",
    "api_version": "Azure OpenAI API version (else OPENAI_API_VERSION)",
    "check_model": "False skips the OpenAI model catalog (OpenAI-compatible servers)",
    "n_epochs": "override n_epochs ('auto' lets OpenAI choose)",
    "batch_size": "override batch_size ('auto' lets OpenAI choose)",
    "learning_rate_multiplier": "OpenAI's learning-rate factor ('auto' or a number > 0)",
    "beta": "override DPO beta ('auto' or 0 < beta <= 2)",
    "reasoning_effort": "reinforcement: the model's reasoning effort (default, low, medium, high)",
    "compute_multiplier": "reinforcement: compute spent exploring ('auto' or 0.00001–10)",
    "eval_interval": "reinforcement: training steps between evaluations ('auto' or >= 1)",
    "eval_samples": "reinforcement: samples generated per evaluation step ('auto' or >= 1)",
    "wandb_entity": "W&B entity for the wandb integration",
    "wandb_tags": "W&B tags for the wandb integration",
    "extra_body": "extra JSON fields for the job request (OpenAI-compatible servers)",
    "upload_threshold_bytes": "files larger than this use the multipart Uploads API",
    "upload_part_bytes": "part size for the Uploads API (at most 64 MB)",
    "timeout_s": "HTTP timeout per request in seconds",
}

_DROPPED = {
    "max_steps": "OpenAI trains whole epochs: set epochs instead",
    "micro_batch_size": "OpenAI chooses the per-device batch and accumulation itself",
    "warmup_ratio": "OpenAI does not expose the learning-rate warmup",
    "lr_scheduler": "OpenAI does not expose the learning-rate schedule",
    "weight_decay": "OpenAI does not expose weight decay",
    "max_grad_norm": "OpenAI does not expose gradient clipping",
    "eval_steps": "OpenAI evaluates the validation file at its own cadence",
    "n_checkpoints": "OpenAI keeps the checkpoints of the last 3 epochs",
    "packing": "OpenAI decides on packing itself",
    "chat_template": "OpenAI applies its own chat format",
    "output_dir": "the model stays at OpenAI; use the ProviderModel handle",
}


@dataclass(frozen=True)
class Placeholders:
    training_file: str = "<file id of train.jsonl>"
    validation_file: str = "<file id of eval.jsonl>"
    run_id: str = "<run id>"


def options_of(job: Job) -> dict[str, Any]:
    """``backend_options["openai"]``, checked: an unknown key is a JobError naming a close one."""
    options = dict(job.backend_options.get(BACKEND, {}))
    for key in options:
        if key not in OPTIONS:
            close = difflib.get_close_matches(key, list(OPTIONS), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise JobError(
                f"unknown OpenAI backend option {key!r}",
                where=f"job.backend_options.openai.{key}",
                fix=hint + "known options: " + ", ".join(sorted(OPTIONS)),
            )
    return options


#: backend_options that only a reinforcement job takes
RFT_OPTIONS = ("reasoning_effort", "compute_multiplier", "eval_interval", "eval_samples")
REASONING_EFFORTS = ("default", "low", "medium", "high")


def method_type(objective: str) -> str:
    return {"dpo": "dpo", "grpo": "reinforcement"}.get(objective, "supervised")


def hyperparameters(job: Job, objective: str) -> dict[str, Any]:
    """The ``method.<type>.hyperparameters`` object, backend_options overriding the Job."""
    options = options_of(job)
    hyper: dict[str, Any] = {
        "n_epochs": options.get("n_epochs", job.epochs),
        "batch_size": options.get("batch_size", job.batch_size),
    }
    if "learning_rate_multiplier" in options:
        hyper["learning_rate_multiplier"] = options["learning_rate_multiplier"]
    if objective == "dpo":
        hyper["beta"] = options.get("beta", job.beta)
    if objective == "grpo":
        hyper.update({key: options[key] for key in RFT_OPTIONS if key in options})
    else:
        for key in RFT_OPTIONS:
            if key in options:
                raise JobError(
                    f"backend option {key!r} applies to reinforcement fine-tuning only",
                    where=f"job.backend_options.openai.{key}",
                    fix='remove it, or set objective="grpo" with graders as rewards',
                )
    effort = hyper.get("reasoning_effort")
    if effort is not None and effort not in REASONING_EFFORTS:
        raise JobError(
            f"OpenAI's reasoning_effort must be one of {', '.join(REASONING_EFFORTS)}, got "
            f"{effort!r}",
            where="job.backend_options.openai.reasoning_effort",
            fix='e.g. {"reasoning_effort": "medium"}',
        )
    _check_range(hyper, "compute_multiplier", 0.00001, 10, integer=False, source=None, low_ok=True)
    _check_range(hyper, "eval_interval", 1, None, integer=True, source=None)
    _check_range(hyper, "eval_samples", 1, None, integer=True, source=None)
    _check_range(hyper, "n_epochs", 1, 50, integer=True, source="epochs")
    _check_range(hyper, "batch_size", 1, 256, integer=True, source="batch_size")
    _check_range(hyper, "learning_rate_multiplier", 0, None, integer=False, source=None)
    _check_range(hyper, "beta", 0, 2, integer=False, source="beta")
    return hyper


def _check_range(
    hyper: dict[str, Any],
    key: str,
    low: float,
    high: float | None,
    *,
    integer: bool,
    source: str | None,
    low_ok: bool = False,
) -> None:
    if key not in hyper or hyper[key] == "auto":
        return
    value = hyper[key]
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    ok = numeric and (not integer or isinstance(value, int))
    above = value >= low if integer or low_ok else value > low
    ok = ok and above and (high is None or value <= high)
    if not ok:
        bounds = f"{low}–{high}" if high is not None else f"> {low}"
        where = f"job.{source}" if source else f"job.backend_options.openai.{key}"
        raise JobError(
            f"OpenAI's {key} must be 'auto' or in {bounds}, got {value!r}",
            where=where,
            fix=f"use a value in {bounds}, or backend_options={{'openai': {{'{key}': 'auto'}}}}",
        )


def integrations(job: Job) -> list[dict[str, Any]]:
    """The W&B integration when ``report_to`` includes wandb (OpenAI supports only W&B)."""
    if "wandb" not in job.report_to:
        return []
    if not job.wandb_project:
        raise JobError(
            'report_to includes "wandb" but wandb_project is not set',
            where="job.wandb_project",
            fix="set wandb_project (OpenAI's W&B integration needs a project), and register "
            "your W&B key in the OpenAI organization settings",
        )
    options = options_of(job)
    wandb: dict[str, Any] = {"project": job.wandb_project}
    if job.name:
        wandb["name"] = job.name
    if options.get("wandb_entity"):
        wandb["entity"] = options["wandb_entity"]
    if options.get("wandb_tags"):
        wandb["tags"] = list(options["wandb_tags"])
    return [{"type": "wandb", "wandb": wandb}]


def has_eval(job: Job) -> bool:
    return job.eval_data is not None or job.eval_split is not None


def job_request(
    job: Job, objective: str, names: Placeholders | None = None, *, with_eval: bool | None = None
) -> dict[str, Any]:
    """The ``POST /fine_tuning/jobs`` body (placeholders stand for ids not known yet)."""
    names = names or Placeholders()
    options = options_of(job)
    model = job.model_for(BACKEND)
    resolve(model, objective, check=options.get("check_model", True))
    if not 0 <= job.seed <= MAX_SEED:
        raise JobError(
            f"OpenAI takes a seed between 0 and {MAX_SEED}, got {job.seed}",
            where="job.seed",
            fix=f"use a seed in 0–{MAX_SEED}",
        )
    kind = method_type(objective)
    settings: dict[str, Any] = {"hyperparameters": hyperparameters(job, objective)}
    if kind == "reinforcement":
        settings = {"grader": rft.grader(job), **settings}
        if not (has_eval(job) if with_eval is None else with_eval):
            raise JobError(
                "OpenAI's reinforcement fine-tuning needs a validation file, and the job has none",
                where="job.eval_data",
                fix="set eval_data (prompts with their reference columns) or eval_split=0.1",
            )
    body: dict[str, Any] = {
        "model": model,
        "training_file": names.training_file,
        "method": {"type": kind, kind: settings},
        "seed": job.seed,
        "metadata": {
            RUN_ID_KEY: names.run_id,
            **({"tunesdk_job_name": job.name} if job.name else {}),
        },
    }
    if has_eval(job) if with_eval is None else with_eval:
        body["validation_file"] = names.validation_file
    if job.suffix:
        body["suffix"] = job.suffix
    found = integrations(job)
    if found:
        body["integrations"] = found
    extra = options.get("extra_body") or {}
    if not isinstance(extra, dict):
        raise JobError(
            "extra_body must be a mapping of extra request fields",
            where="job.backend_options.openai.extra_body",
            fix='e.g. {"extra_body": {"lora_rank": 16}} for a compatible server that takes it',
        )
    return {**body, **extra}


def build_plan(job: Job) -> Plan:
    """The OpenAI plan: uploads, the job request, and one row per Job option."""
    b = PlanBuilder(job, BACKEND, "managed")
    body = job_request(job, b.objective)
    options = options_of(job)
    kind = method_type(b.objective)
    hp = f"method.{kind}.hyperparameters"
    _rows(b, job, kind, hp, options)
    files = [{"purpose": "fine-tune", "file": "train.jsonl"}]
    if b.objective == "grpo":
        b.notes.append(
            "reinforcement data is uploaded in OpenAI's RFT shape: messages ending on the user "
            "turn, every other column kept for the grader ({{item.<column>}})"
        )
    if has_eval(job):
        files.append({"purpose": "fine-tune", "file": "eval.jsonl"})
    threshold = options.get("upload_threshold_bytes", DEFAULT_UPLOAD_THRESHOLD)
    b.native = {"files": files, "job": body}
    b.requests = [
        NativeRequest(
            method="POST",
            path="/v1/files",
            body=f,
            description=f"multipart upload; above {threshold} bytes: POST /v1/uploads, "
            "then /parts and /complete",
        )
        for f in files
    ]
    b.requests.append(
        NativeRequest(method="POST", path="/v1/fine_tuning/jobs", body=body, description="create")
    )
    b.notes.append(
        "OpenAI stops all new fine-tuning jobs on 2027-01-06 (and refuses organizations without "
        "recent fine-tuning activity already); after that this backend serves OpenAI-compatible "
        "servers (base_url) and Azure OpenAI, and chat() on existing fine-tunes keeps working "
        "until their base model retires"
    )
    return b.build()


def _rows(b: PlanBuilder, job: Job, kind: str, hp: str, options: dict[str, Any]) -> None:
    b.mapped("objective", "method.type", kind)
    b.dropped("method", "OpenAI does not say how it trains (full or adapter) nor let you choose")
    for field in type(job.method).model_fields:
        if field != "kind":
            b.dropped(f"method.{field}", "OpenAI does not expose adapter settings")
    _override_or_map(b, "epochs", f"{hp}.n_epochs", options.get("n_epochs"))
    _override_or_map(b, "batch_size", f"{hp}.batch_size", options.get("batch_size"))
    b.dropped(
        "learning_rate",
        "OpenAI takes only learning_rate_multiplier, a factor on a base rate it does not publish; "
        "tunesdk invents no conversion: set backend_options={'openai': "
        "{'learning_rate_multiplier': ...}}",
    )
    if kind == "dpo":
        _override_or_map(b, "beta", f"{hp}.beta", options.get("beta"))
    if kind == "reinforcement":
        _rft_rows(b, job)
    b.mapped("seed", "seed")
    if job.suffix:
        b.mapped("suffix", "suffix")
    else:
        b.defaulted("suffix", "no suffix: OpenAI names the model ft:<base>:<org>::<id>")
    if job.eval_data is not None:
        b.mapped("eval_data", "validation_file", "<file id of eval.jsonl>")
    else:
        b.defaulted("eval_data", "no validation file: OpenAI reports training loss only")
    if job.eval_split is not None:
        b.mapped(
            "eval_split",
            "validation_file",
            "<file id of eval.jsonl>",
            reason="tunesdk splits the data locally and uploads the held-out part",
        )
    model = resolve(job.model_for(BACKEND), b.objective, check=options.get("check_model", True))
    context = f"{model.example_context}-token" if model else "server's"
    b.dropped(
        "max_seq_length",
        f"OpenAI has no length setting: examples longer than the model's {context} training "
        "context are rejected when the file is validated",
    )
    if job.train_on_inputs:
        b.dropped(
            "train_on_inputs", "OpenAI trains on assistant messages only (per-message weight)"
        )
    else:
        b.mapped("train_on_inputs", reason="OpenAI trains on assistant messages only")
    _tracking_rows(b, job)
    for option, reason in _DROPPED.items():
        _drop(b, job, option, reason)
    for field in type(job.resources).model_fields:
        _drop(b, job, f"resources.{field}", "OpenAI chooses the hardware")


def _rft_rows(b: PlanBuilder, job: Job) -> None:
    graders = len(job.rewards)
    b.mapped(
        "rewards",
        "method.reinforcement.grader",
        reason="one grader" if graders == 1 else f"{graders} graders in one multi grader",
    )
    if job.reward_weights is not None:
        b.mapped("reward_weights", "method.reinforcement.grader.calculate_output")
    why = {
        "beta": "OpenAI does not expose the KL coefficient of reinforcement fine-tuning",
        "num_generations": "OpenAI chooses how many completions it samples per prompt",
        "max_completion_length": "OpenAI does not expose the completion length; "
        "backend_options.openai.reasoning_effort sets how long the model thinks",
        "temperature": "OpenAI chooses the sampling temperature",
        "loss_type": "OpenAI does not say which policy-gradient loss it uses",
    }
    for option, reason in why.items():
        if option == "beta" and "beta" not in job.options_set():
            b.defaulted("beta", "OpenAI's own KL coefficient")
        else:
            _drop(b, job, option, reason)


def _drop(b: PlanBuilder, job: Job, option: str, reason: str) -> None:
    """Drop ``option``, or record it as not set when it is unset and has no value to lose."""
    if option_value(job, option) in (None, False) and option not in job.options_set():
        b.defaulted(option, "not set")
    else:
        b.dropped(option, reason)


def _override_or_map(b: PlanBuilder, option: str, native: str, override: Any) -> None:
    if override is None:
        b.mapped(option, native)
    else:
        b.mapped(option, native, override, reason=f"backend_options overrides it with {override!r}")


def _tracking_rows(b: PlanBuilder, job: Job) -> None:
    others = [tracker for tracker in job.report_to if tracker != "wandb"]
    if "wandb" in job.report_to:
        why = f"OpenAI supports W&B only; {', '.join(others)} dropped" if others else None
        b.mapped("report_to", "integrations", ["wandb"], reason=why)
        b.mapped("wandb_project", "integrations[0].wandb.project")
    elif others:
        b.dropped("report_to", "OpenAI's only tracking integration is W&B")
    if "wandb" not in job.report_to and job.wandb_project:
        b.dropped("wandb_project", 'only used with report_to=["wandb"]')


__all__ = ["OPTIONS", "Placeholders", "build_plan", "job_request", "options_of"]
