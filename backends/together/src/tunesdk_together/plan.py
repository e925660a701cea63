"""Job -> Together: the ``client.fine_tuning.create`` arguments, the request body they produce, and
the fate of every Job option.

The plan holds three things (``plan.native``):

- ``create``: the keyword arguments tunesdk passes to the official SDK's
  ``client.fine_tuning.create`` (file ids and the run tag are placeholders until the run exists;
  secrets are never in it);
- ``request_body``: the JSON body the SDK turns them into for ``POST /v1/fine-tunes``, computed
  with the SDK's own ``create_finetune_request`` against the model's limits, so the SDK's
  client-side checks fail here, at plan time, and not after an upload;
- ``upload``: the files to upload.

See docs/backends/together.md for the option table.
"""

from __future__ import annotations

import difflib
import inspect
import math
import os
import re
from functools import cache
from typing import Any

from tunesdk.backend import NativeRequest, Plan, PlanBuilder
from tunesdk.errors import JobError
from tunesdk.job import Job, ModelRef
from tunesdk.methods import Full, LoRA, QLoRA
from tunesdk_together.models import FineTunableModel, known_ids, limits_json, lookup

TRAIN_FILE = "<file id of train.jsonl>"
EVAL_FILE = "<file id of eval.jsonl>"
RUN_TAG = "<run id>"
WANDB_KEY = "<from $WANDB_API_KEY>"
WANDB_ENV = "WANDB_API_KEY"
SUFFIX_MAX = 40
#: backend_options that configure the client rather than the job
CLIENT_OPTIONS = {"api_key", "base_url", "timeout"}
#: create() arguments that carry secrets: they must come from the environment, never the job file
SECRET_ARGUMENTS = {"wandb_api_key", "hf_api_token"}
#: create() arguments tunesdk manages itself
MANAGED_ARGUMENTS = {"training_file", "validation_file", "model_limits", "verbose"}
SCHEDULERS = {
    "linear": ("linear", 0.0, "linear decay to 0 after warmup"),
    "cosine": ("cosine", 0.0, "cosine decay to 0 after warmup (half a cycle)"),
    "constant": ("linear", 1.0, "linear with min_lr_ratio=1.0 keeps the rate constant"),
    "constant_with_warmup": (
        "linear",
        1.0,
        "linear with min_lr_ratio=1.0 keeps the rate constant after warmup",
    ),
}


def build_plan(job: Job, backend: str) -> Plan:
    """The Together plan for ``job``: native request, upload, and one row per option."""
    b = PlanBuilder(job, backend, "managed")
    options = job.backend_options.get(backend, {})
    _check_backend_options(options)
    model_id, entry = resolve_model(job, backend)
    kwargs: dict[str, Any] = {"model": model_id, "training_file": TRAIN_FILE}
    b.model = model_id
    if model_id != job.model_name:
        b.notes.append(f"model {job.model_name} is {model_id} on Together")

    _map_data(b, job, kwargs)
    _map_method(b, job, entry, kwargs)
    _map_hyperparameters(b, job, kwargs)
    _map_evaluation(b, job, kwargs)
    _map_output(b, job, kwargs)
    _map_unsupported(b, job)

    kwargs.update({k: v for k, v in options.items() if k not in CLIENT_OPTIONS})
    if "suffix" in options:  # the run tag stays: it is how a retried create finds its job
        kwargs["suffix"] = compose_suffix(str(options["suffix"] or ""), RUN_TAG)
    if options.get("from_checkpoint"):  # continuing a Together job: its base model is implied
        kwargs.pop("model", None)
        b.notes.append(
            f"continues from Together checkpoint {options['from_checkpoint']}; the base "
            f"model is that job's ({model_id} is used for the checks here)"
        )
    body = request_body(kwargs, entry, model_id)
    b.native = {
        "upload": {"purpose": "fine-tune", "files": _files(kwargs)},
        "create": kwargs,
        "request_body": body,
    }
    b.requests = _requests(kwargs, body, model_id)
    if entry is None:
        b.notes.append(
            f"{model_id} is not in tunesdk's Together table: it is sent unchecked and "
            "Together's model limits decide"
        )
    elif not (entry.serverless_lora and kwargs.get("lora", True)):
        b.notes.append(
            "the result needs a dedicated endpoint before chat(): call "
            "result.model.deploy() (Together serves LoRA adapters of this base, and full "
            "fine-tunes, on dedicated endpoints only)"
        )
    return b.build()


# ---- model ------------------------------------------------------------------------------------


def resolve_model(job: Job, backend: str) -> tuple[str, FineTunableModel | None]:
    """The Together model id for the job, and its catalog entry (None: an unchecked passthrough)."""
    if isinstance(job.model, ModelRef) and backend in job.model.ids:
        native = job.model.ids[backend]
        return native, lookup(native)
    entry = lookup(job.model_name)
    if entry is not None:
        return entry.together_id, entry
    close = difflib.get_close_matches(job.model_name, known_ids(), n=3, cutoff=0.5)
    hint = f" Close matches: {', '.join(close)}." if close else ""
    raise JobError(
        f"{job.model_name!r} is not a base model tunesdk knows Together AI fine-tunes.{hint}",
        where="job.model",
        fix="use one of the models in docs/backends/together.md, or, if Together lists it at "
        "https://docs.together.ai/docs/fine-tuning-models, pass its Together id with "
        f"ts.ModelRef(name={job.model_name!r}, ids={{'together': '<together model id>'}})",
    )


# ---- option groups ----------------------------------------------------------------------------


def _map_data(b: PlanBuilder, job: Job, kwargs: dict[str, Any]) -> None:
    if job.eval_data is not None:
        kwargs["validation_file"] = EVAL_FILE
        b.mapped("eval_data", "validation_file", EVAL_FILE)
    if job.eval_split is not None:
        kwargs["validation_file"] = EVAL_FILE
        b.mapped(
            "eval_split",
            "validation_file",
            EVAL_FILE,
            reason="tunesdk splits the data locally and uploads the held-out part",
        )
    method = "dpo" if b.objective == "dpo" else "sft"
    kwargs["training_method"] = method
    b.mapped("objective", "training_method.method", method)
    if method == "dpo":
        kwargs["dpo_beta"] = job.beta
        b.mapped("beta", "training_method.dpo_beta", job.beta)
        b.defaulted("train_on_inputs", "DPO trains on the preferred and non-preferred outputs only")
    else:
        kwargs["train_on_inputs"] = job.train_on_inputs
        b.mapped("train_on_inputs", "training_method.train_on_inputs", job.train_on_inputs)
    kwargs["packing"] = job.packing
    b.mapped("packing", "packing", job.packing)


def _map_method(
    b: PlanBuilder, job: Job, entry: FineTunableModel | None, kwargs: dict[str, Any]
) -> None:
    method = job.method
    if isinstance(method, Full):
        if entry is not None and not entry.full_training:
            raise JobError(
                f"Together offers only LoRA fine-tuning for {entry.together_id}",
                where="job.method",
                fix="use `method: lora` for this model, or pick a model with full fine-tuning",
            )
        kwargs["lora"] = False
        b.mapped("method", "training_type.type", "Full")
        return
    if not isinstance(method, LoRA):
        raise JobError(
            f"Together fine-tunes with LoRA or full fine-tuning, not {method.kind}",
            where="job.method",
            fix="use `method: lora` or `method: full`, or a local backend (trl) for "
            f"{type(method).__name__}",
        )
    if entry is not None and method.r > entry.max_rank:
        raise JobError(
            f"LoRA rank {method.r} is above Together's maximum of {entry.max_rank} for "
            f"{entry.together_id}",
            where="job.method.r",
            fix=f"use r <= {entry.max_rank}",
        )
    alpha = method.alpha if method.alpha is not None else 2 * method.r
    modules = _target_modules(method, entry)
    kwargs.update(
        lora=True,
        lora_r=method.r,
        lora_alpha=round(alpha),
        lora_dropout=method.dropout,
        lora_trainable_modules=modules,
    )
    if isinstance(method, QLoRA):
        b.mapped(
            "method",
            "training_type.type",
            "Lora",
            reason="Together trains LoRA on a 16-bit base; QLoRA's quantization is not offered",
        )
        for name in ("bits", "quant_type", "double_quant", "compute_dtype"):
            b.dropped(f"method.{name}", "Together does not quantize the base model")
    else:
        b.mapped("method", "training_type.type", "Lora")
    b.mapped("method.r", "training_type.lora_r", method.r)
    b.mapped(
        "method.alpha",
        "training_type.lora_alpha",
        round(alpha),
        reason=None if float(alpha).is_integer() else "Together takes an integer alpha: rounded",
    )
    b.mapped("method.dropout", "training_type.lora_dropout", method.dropout)
    b.mapped("method.target_modules", "training_type.lora_trainable_modules", modules)
    for flag, what in (("use_dora", "DoRA"), ("use_rslora", "rank-stabilized LoRA")):
        if getattr(method, flag):
            b.dropped(f"method.{flag}", f"Together trains plain LoRA; {what} is not offered")
        else:
            b.defaulted(f"method.{flag}", "off; Together trains plain LoRA")


def _target_modules(method: LoRA, entry: FineTunableModel | None) -> str:
    if method.target_modules == "all-linear":
        return "all-linear"
    modules = list(method.target_modules)
    if entry is not None:
        unknown = [m for m in modules if m not in entry.target_modules]
        if unknown:
            raise JobError(
                f"target modules {unknown} are not trainable on Together for {entry.together_id}",
                where="job.method.target_modules",
                fix=f'use "all-linear" or names from {list(entry.target_modules)}',
            )
    return ",".join(modules)


def _map_hyperparameters(b: PlanBuilder, job: Job, kwargs: dict[str, Any]) -> None:
    kwargs["n_epochs"] = job.epochs
    b.mapped("epochs", "n_epochs", job.epochs)
    if job.max_steps is not None:
        b.dropped("max_steps", "Together trains whole epochs and has no step limit; set epochs")
    lr = job.effective_learning_rate
    kwargs["learning_rate"] = lr
    b.mapped(
        "learning_rate",
        "learning_rate",
        lr,
        reason=None if job.learning_rate else f"the {job.method.kind} default",
    )
    kwargs["batch_size"] = job.effective_micro_batch_size
    kwargs["gradient_accumulation_steps"] = job.gradient_accumulation_steps
    b.mapped(
        "batch_size",
        "batch_size × gradient_accumulation_steps",
        job.batch_size,
        reason="with packing=True Together packs sequences, so a batch may hold more examples"
        if job.packing
        else None,
    )
    if job.micro_batch_size is None:
        b.defaulted(
            "micro_batch_size",
            "= batch_size, no gradient accumulation",
            native="batch_size",
            native_value=job.batch_size,
        )
    else:
        b.mapped("micro_batch_size", "batch_size", job.micro_batch_size)
    kwargs["warmup_ratio"] = job.warmup_ratio
    b.mapped("warmup_ratio", "warmup_ratio", job.warmup_ratio)
    scheduler = SCHEDULERS.get(job.lr_scheduler)
    if scheduler is None:
        b.dropped(
            "lr_scheduler",
            f"Together schedules are linear or cosine; {job.lr_scheduler} has no "
            "equivalent, so Together's default (cosine) applies",
        )
    else:
        kind, floor, why = scheduler
        kwargs["lr_scheduler_type"] = kind
        kwargs["min_lr_ratio"] = floor
        b.mapped(
            "lr_scheduler",
            "lr_scheduler",
            {"lr_scheduler_type": kind, "min_lr_ratio": floor},
            reason=why,
        )
    kwargs["weight_decay"] = job.weight_decay
    b.mapped("weight_decay", "weight_decay", job.weight_decay)
    kwargs["max_grad_norm"] = job.max_grad_norm
    b.mapped("max_grad_norm", "max_grad_norm", job.max_grad_norm)
    kwargs["max_seq_length"] = job.max_seq_length
    b.mapped("max_seq_length", "max_seq_length", job.max_seq_length)
    kwargs["random_seed"] = job.seed
    b.mapped("seed", "random_seed", job.seed)


def _map_evaluation(b: PlanBuilder, job: Job, kwargs: dict[str, Any]) -> None:
    has_eval = "validation_file" in kwargs
    if not has_eval:
        if job.eval_steps is not None:
            b.dropped("eval_steps", "no eval_data or eval_split: nothing to evaluate on")
        kwargs["n_evals"] = 0
        return
    evals = _evals_for(job)
    kwargs["n_evals"] = evals
    if job.eval_steps is None:
        b.mapped("eval_steps", "n_evals", evals, reason="one evaluation per epoch")
    else:
        b.mapped(
            "eval_steps",
            "n_evals",
            evals,
            reason=f"Together takes a count: total steps / {job.eval_steps}",
        )


def _evals_for(job: Job) -> int:
    if job.eval_steps is None:
        return job.epochs
    examples = _count_examples(job)
    if examples is None:
        return job.epochs
    steps = math.ceil(examples / job.batch_size) * job.epochs
    return max(1, steps // job.eval_steps)


def _count_examples(job: Job) -> int | None:
    """Training examples after the eval split (None when the data cannot be read here)."""
    try:
        from tunesdk.data import Dataset

        train = Dataset.load(job.data)
        if job.eval_data is None and job.eval_split:
            train, _ = train.split(job.eval_split, seed=job.seed)
        return max(len(train), 1)
    except Exception:
        return None


def _map_output(b: PlanBuilder, job: Job, kwargs: dict[str, Any]) -> None:
    kwargs["suffix"] = compose_suffix(job.suffix, RUN_TAG)
    b.mapped(
        "suffix",
        "suffix",
        kwargs["suffix"],
        reason="the run id tags the job so a retried create finds it instead of making another",
    )
    if job.n_checkpoints is None:
        kwargs["n_checkpoints"] = 1
        b.defaulted(
            "n_checkpoints",
            "Together's default: 1 (the final model only)",
            native="n_checkpoints",
            native_value=1,
        )
    else:
        kwargs["n_checkpoints"] = job.n_checkpoints
        b.mapped("n_checkpoints", "n_checkpoints", job.n_checkpoints)
    trackers = set(job.report_to)
    if "wandb" in trackers:
        if not os.environ.get(WANDB_ENV):
            raise JobError(
                "report_to includes wandb but WANDB_API_KEY is not set",
                where="job.report_to",
                fix="export WANDB_API_KEY=... (Together logs to your W&B account with it), "
                "or remove wandb from report_to",
            )
        kwargs["wandb_api_key"] = WANDB_KEY
        kwargs["wandb_name"] = RUN_TAG
        if job.wandb_project:
            kwargs["wandb_project_name"] = job.wandb_project
        b.mapped(
            "report_to",
            "wandb_api_key",
            WANDB_KEY,
            reason="Together logs to W&B with the key from $WANDB_API_KEY"
            + (
                f"; {', '.join(sorted(trackers - {'wandb'}))} not offered"
                if trackers - {"wandb"}
                else ""
            ),
        )
        b.mapped("wandb_project", "wandb_project_name", job.wandb_project)
    elif trackers:
        b.dropped("report_to", "Together integrates with Weights & Biases only")
        if job.wandb_project:
            b.dropped("wandb_project", "only used with report_to=['wandb']")


def _map_unsupported(b: PlanBuilder, job: Job) -> None:
    if job.chat_template is not None:
        b.dropped(
            "chat_template", "Together formats conversations with the base model's own template"
        )
    if job.output_dir is not None:
        b.dropped("output_dir", "the weights stay on Together; use result.model.download(path)")
    for option, default in (
        ("processes", 1),
        ("gpus", None),
        ("nodes", 1),
        ("strategy", "auto"),
        ("deepspeed_stage", None),
        ("mixed_precision", None),
    ):
        value = getattr(job.resources, option)
        if value != default:
            b.dropped(f"resources.{option}", "Together chooses the hardware")
        else:
            b.defaulted(f"resources.{option}", "Together chooses the hardware")


# ---- the request --------------------------------------------------------------------------------


def compose_suffix(user_suffix: str | None, tag: str) -> str:
    """``<user suffix>-<tag>`` within Together's 40 characters and character set."""
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", user_suffix or "").strip("-._")
    room = SUFFIX_MAX - len(tag) - 1
    if not clean or room <= 0:
        return tag[-SUFFIX_MAX:]
    return f"{clean[:room].rstrip('-._')}-{tag}"


def run_tag(run_id: str, backend: str) -> str:
    """The part of a run id that tags its remote job (unique, suffix-safe, <= 40 chars)."""
    tag = re.sub(r"[^A-Za-z0-9-]+", "-", run_id.removeprefix(f"{backend}-"))
    return tag[-SUFFIX_MAX:]


def request_body(
    kwargs: dict[str, Any], entry: FineTunableModel | None, model_id: str
) -> dict[str, Any]:
    """The ``POST /v1/fine-tunes`` body the SDK builds from ``kwargs`` (its checks -> JobError)."""
    from together.lib.resources.fine_tuning import create_finetune_request
    from together.types.finetune_model_limits import FinetuneModelLimits

    limits = limits_json(entry) if entry is not None else _open_limits(model_id)
    arguments = {k: v for k, v in kwargs.items() if k in _create_parameters() and k != "verbose"}
    try:
        request, _, _ = create_finetune_request(
            model_limits=FinetuneModelLimits.model_validate(limits), **arguments
        )
    except ValueError as exc:
        raise JobError(
            f"Together would refuse this job: {exc}",
            where=f"backend {model_id}",
            fix="change the option named above (limits: docs/backends/together.md)",
        ) from None
    body: dict[str, Any] = request.model_dump(exclude_none=True, mode="json")
    if "wandb_key" in body:
        body["wandb_key"] = WANDB_KEY
    return body


def _open_limits(model_id: str) -> dict[str, Any]:
    from tunesdk_together.models import FineTunableModel

    open_entry = FineTunableModel(
        model_id,
        context_sft=10**7,
        context_dpo=10**7,
        lora_max_batch=10**6,
        lora_max_batch_dpo=10**6,
        min_batch=1,
        max_rank=10**4,
        full_max_batch=10**6,
        full_max_batch_dpo=10**6,
    )
    return limits_json(open_entry)


@cache
def _create_parameters() -> frozenset[str]:
    from together.resources.fine_tuning import FineTuningResource

    return frozenset(inspect.signature(FineTuningResource.create).parameters) - {"self"}


def _check_backend_options(options: dict[str, Any]) -> None:
    allowed = (_create_parameters() | CLIENT_OPTIONS) - MANAGED_ARGUMENTS
    for key in options:
        if key in SECRET_ARGUMENTS:
            env = WANDB_ENV if key == "wandb_api_key" else "HF_TOKEN"
            raise JobError(
                f"backend_options.together.{key} would store a secret in the run folder",
                where=f"backend_options.together.{key}",
                fix=f"remove it; tunesdk reads it from ${env} when the job is created",
            )
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            raise JobError(
                f"unknown Together option {key!r}",
                where=f"backend_options.together.{key}",
                fix=f"did you mean {close[0]!r}?"
                if close
                else "use an argument of together's client.fine_tuning.create (see its docstring)",
            )


def _files(kwargs: dict[str, Any]) -> dict[str, str]:
    files = {"training_file": "train.jsonl"}
    if "validation_file" in kwargs:
        files["validation_file"] = "eval.jsonl"
    return files


def _requests(kwargs: dict[str, Any], body: dict[str, Any], model_id: str) -> list[NativeRequest]:
    requests = [
        NativeRequest(
            method="POST",
            path="/v1/files",
            body={"purpose": "fine-tune", "file_name": name, "file_type": "jsonl"},
            description=f"upload {name} ({role}): presigned PUT, then /v1/files/{{id}}/preprocess; "
            "multipart (/v1/files/multipart/*) above the SDK's 5 GiB threshold",
        )
        for role, name in _files(kwargs).items()
    ]
    requests += [
        NativeRequest(
            method="GET",
            path=f"/v1/fine-tunes/models/limits?model_name={model_id}",
            description="the SDK checks the job against the live limits",
        ),
        NativeRequest(
            method="POST",
            path="/v1/fine-tunes/estimate-price",
            description="the SDK's price estimate",
        ),
        NativeRequest(
            method="POST", path="/v1/fine-tunes", body=body, description="create the job"
        ),
    ]
    return requests


def create_arguments(
    native: dict[str, Any], *, tag: str, file_ids: dict[str, str]
) -> dict[str, Any]:
    """The plan's ``create`` arguments with the run's file ids, run tag and secrets filled in."""
    kwargs = dict(native["create"])
    kwargs["training_file"] = file_ids["train"]
    if "validation_file" in kwargs:
        kwargs["validation_file"] = file_ids["eval"]
    for key, value in list(kwargs.items()):
        if key != "suffix" and isinstance(value, str) and RUN_TAG in value:
            kwargs[key] = value.replace(RUN_TAG, tag)
    if isinstance(kwargs.get("suffix"), str):
        user = kwargs["suffix"].removesuffix(RUN_TAG).rstrip("-") or None
        kwargs["suffix"] = compose_suffix(user, tag)
    if kwargs.get("wandb_api_key") == WANDB_KEY:
        key = os.environ.get(WANDB_ENV)
        if not key:
            raise JobError(
                "the plan logs to W&B but WANDB_API_KEY is not set in this process",
                where="job.report_to",
                fix="export WANDB_API_KEY=... and resume the run",
            )
        kwargs["wandb_api_key"] = key
    return kwargs


__all__ = [
    "build_plan",
    "compose_suffix",
    "create_arguments",
    "request_body",
    "resolve_model",
    "run_tag",
]
