"""Job -> the Fireworks requests: dataset uploads and the fine-tuning job's create body.

The same function builds the plan's native body (placeholders for the run id, secrets shown as
``***``) and the body `FireworksBackend.create_job` sends, so the plan is exactly what
Fireworks receives. Field names are the REST API's (camelCase). Units that differ from tunesdk's:

- ``batchSize`` counts *tokens* (sequences are packed); a Job's ``batch_size`` counts examples, so
  it maps to ``batchSizeSamples`` ("samples per gradient batch").
- warmup is ``learningRateWarmupSteps`` (steps), converted from ``warmup_ratio`` when the number of
  steps is known (batch size given and the data countable locally).
- ``learningRate`` is absolute.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tunesdk.backend import NativeRequest, Plan, PlanBuilder
from tunesdk.errors import JobError
from tunesdk_fireworks import evaluator
from tunesdk_fireworks.models import resolve_base_model
from tunesdk_fireworks.resources import resource_name, to_resource_id

if TYPE_CHECKING:
    from tunesdk.job import Job

BACKEND = "fireworks"
RUN_ID_PLACEHOLDER = "{run_id}"
_STAND_IN = "tunesdk0run0id0stand0in"
ACCOUNT_PLACEHOLDER = "{FIREWORKS_ACCOUNT_ID}"
LORA_RANKS = (4, 64)
DPO_BETA = (0.0, 0.5)
SINGLE_UPLOAD_LIMIT = 150 * 1024 * 1024
#: backend_options that configure the client rather than the job body
CLIENT_OPTIONS = frozenset({"api_key", "account_id", "base_url", "timeout_s"})
#: TrainingConfig fields: DPO jobs take these inside ``trainingConfig``
TRAINING_CONFIG_FIELDS = frozenset(
    {
        "baseModel",
        "batchSize",
        "batchSizeSamples",
        "samplerCheckpointSaveIntervalSteps",
        "epochs",
        "gradientAccumulationSteps",
        "jinjaTemplate",
        "learningRate",
        "learningRateWarmupSteps",
        "loraRank",
        "maxContextLength",
        "optimizerWeightDecay",
        "outputModel",
        "region",
        "warmStartFrom",
    }
)


#: objective -> (the job collection, its create call's id query parameter)
COLLECTIONS: dict[str, tuple[str, str]] = {
    "sft": ("supervisedFineTuningJobs", "supervisedFineTuningJobId"),
    "dpo": ("dpoJobs", "dpoJobId"),
    # ORPO is a preference job with lossConfig.method ORPO (fireworks-ai's DpoJob docs)
    "orpo": ("dpoJobs", "dpoJobId"),
    "grpo": ("reinforcementFineTuningJobs", "reinforcementFineTuningJobId"),
}
#: Job.loss_type -> the RFT lossConfig.method (ReinforcementLearningLossConfig in fireworks-ai)
RFT_LOSSES = {"grpo": "GRPO", "dapo": "DAPO"}


@dataclass(frozen=True)
class RunNames:
    """Every Fireworks id one run creates, derived from the run id (so retries reuse them)."""

    account: str
    run_id: str

    @property
    def job_id(self) -> str:
        return to_resource_id(self.run_id)

    def dataset_id(self, role: str) -> str:
        return to_resource_id(self.run_id, role, keep_last=False)

    def dataset_name(self, role: str) -> str:
        return resource_name(self.account, "datasets", self.dataset_id(role))

    def output_model_id(self, suffix: str | None) -> str:
        return to_resource_id(suffix or "tunesdk", self.run_id)

    def job_name(self, objective: str) -> str:
        return resource_name(self.account, COLLECTIONS[objective][0], self.job_id)

    @property
    def evaluator_name(self) -> str:
        """The evaluator a reinforcement job scores with (same id as the job)."""
        return resource_name(self.account, "evaluators", self.job_id)


@dataclass
class FireworksRequest:
    """The create call for one run: which collection, the job id and the body."""

    objective: str
    job_id: str
    body: dict[str, Any]
    #: reinforcement jobs: the ``evaluator`` object created (``evaluatorsV2``) before the job
    evaluator: dict[str, Any] | None = None

    @property
    def collection(self) -> str:
        return COLLECTIONS[self.objective][0]

    @property
    def id_param(self) -> str:
        return COLLECTIONS[self.objective][1]


def account_for(job: Job | None) -> str | None:
    """The account id from backend_options or FIREWORKS_ACCOUNT_ID."""
    options = job.backend_options.get(BACKEND, {}) if job is not None else {}
    account = options.get("account_id") or os.environ.get("FIREWORKS_ACCOUNT_ID")
    return str(account) if account else None


def build_plan(job: Job, *, examples: int | None = None) -> Plan:
    """The plan: requests, the create body (run id as a placeholder) and every option's fate."""
    # A stand-in run id that survives id sanitizing, swapped for the placeholder afterwards.
    names = RunNames(account_for(job) or ACCOUNT_PLACEHOLDER, _STAND_IN)
    builder, request = _map(job, names, examples=examples, secrets=False)
    builder.native = _placeholders(request.body)
    builder.requests = [
        NativeRequest.model_validate(_placeholders(call.model_dump()))
        for call in _requests(job, names, request)
    ]
    builder.notes.append(
        f"{RUN_ID_PLACEHOLDER} is replaced by the run id at submit time; it names the datasets, "
        "the job and the output model, so a retried request can never create a second job"
    )
    builder.notes.append(
        "the fine-tuned model is a LoRA addon: Fireworks serves it only from a dedicated "
        "deployment, so call result.model.deploy() before chat()"
    )
    return builder.build()


def _placeholders(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace(_STAND_IN, RUN_ID_PLACEHOLDER)
    if isinstance(value, dict):
        return {key: _placeholders(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_placeholders(item) for item in value]
    return value


def build_request(job: Job, names: RunNames, *, examples: int | None = None) -> FireworksRequest:
    """The create request for a run, with real ids and secrets (never log or store it)."""
    _, request = _map(job, names, examples=examples, secrets=True)
    return request


def _requests(job: Job, names: RunNames, request: FireworksRequest) -> list[NativeRequest]:
    base = f"/v1/accounts/{names.account}"
    roles = ["train"] + (["eval"] if _has_eval(job, request.objective) else [])
    calls: list[NativeRequest] = []
    for role in roles:
        dataset_id = names.dataset_id(role)
        calls.append(
            NativeRequest(
                method="POST",
                path=f"{base}/datasets",
                body={
                    "datasetId": dataset_id,
                    "dataset": {
                        "displayName": f"tunesdk {names.run_id} {role}",
                        "userUploaded": {},
                    },
                },
                description=f"create the {role} dataset",
            )
        )
        calls.append(
            NativeRequest(
                method="POST",
                path=f"{base}/datasets/{dataset_id}:upload",
                description="multipart upload of the JSONL file (up to 150 MB; larger files go "
                ":getUploadEndpoint -> PUT to the signed URL -> :validateUpload)",
            )
        )
    if request.evaluator is not None:
        calls.append(
            NativeRequest(
                method="POST",
                path=f"{base}/evaluatorsV2",
                body={"evaluatorId": request.job_id, "evaluator": request.evaluator},
                description="create the evaluator built from the graders (its main.py scores "
                "each rollout)",
            )
        )
    what = {
        "dpo": "the DPO job",
        "orpo": "the ORPO job (a preference job with lossConfig.method ORPO)",
        "grpo": "the reinforcement fine-tuning job",
        "sft": "the supervised fine-tuning job",
    }
    calls.append(
        NativeRequest(
            method="POST",
            path=f"{base}/{request.collection}?{request.id_param}={request.job_id}",
            body=request.body,
            description=f"create {what[request.objective]}",
        )
    )
    calls.append(
        NativeRequest(
            method="GET",
            path=f"{base}/{request.collection}/{request.job_id}",
            description="poll the job's state"
            + (
                "; metrics from :getMetricsFileEndpoint"
                if request.objective in ("dpo", "orpo")
                else ""
            )
            + (
                "; reward from outputMetrics when it holds JSON"
                if request.objective == "grpo"
                else ""
            ),
        )
    )
    return calls


def _has_eval(job: Job, objective: str) -> bool:
    return objective in ("sft", "grpo") and (
        job.eval_data is not None or job.eval_split is not None
    )


# ---- the mapping --------------------------------------------------------------------------------


def _map(
    job: Job, names: RunNames, *, examples: int | None, secrets: bool
) -> tuple[PlanBuilder, FireworksRequest]:
    b = PlanBuilder(job, BACKEND, "managed")
    objective = b.objective
    if objective not in COLLECTIONS:
        raise JobError(
            f"Fireworks fine-tunes chat (sft), preference (dpo) or reinforcement (grpo) jobs, "
            f"not {objective!r}",
            where="job.objective",
            fix='use objective="sft" with chat data, "dpo" with preference pairs or "grpo" '
            "with prompts and graders",
        )
    resolved = resolve_base_model(b.model)
    config: dict[str, Any] = {"baseModel": resolved.name}
    b.notes.append(f"base model {b.model} -> {resolved.name} ({resolved.how})")
    config["outputModel"] = names.output_model_id(job.suffix)
    b.mapped(
        "suffix", "outputModel", config["outputModel"], reason="output model id = suffix + run id"
    )

    _map_method(job, b, config)
    _map_hyperparameters(
        job, b, config, resolved.known.context_length if resolved.known else None, examples
    )
    top: dict[str, Any] = {
        "displayName": job.name or f"tunesdk {names.run_id}",
        "dataset": names.dataset_name("train"),
    }
    _map_eval(job, b, top, names, objective)
    _map_tracking(job, b, top, secrets=secrets)
    _map_unsupported(job, b, objective)

    if objective == "dpo":
        if not DPO_BETA[0] < job.beta < DPO_BETA[1]:
            raise JobError(
                f"Fireworks requires a DPO beta above 0 and below 0.5, got {job.beta}",
                where="job.beta",
                fix="use a beta such as 0.1 (the default)",
            )
        b.mapped("beta", "lossConfig.dpo.beta", job.beta)
        body = {
            **top,
            "trainingConfig": config,
            "lossConfig": {"method": "DPO", "dpo": {"beta": job.beta}},
        }
        b.notes.append(
            "lossConfig.method is DPO explicitly: Fireworks' preference API defaults to GRPO"
        )
    elif objective == "orpo":
        _unsupported(
            b,
            "beta",
            "Fireworks' ORPO loss takes no weight setting (lossConfig has DPO's beta only)",
            default=True,
        )
        body = {**top, "trainingConfig": config, "lossConfig": {"method": "ORPO"}}
    elif objective == "grpo":
        body = {**top, "evaluator": names.evaluator_name, "trainingConfig": config}
        body.update(_rft_fields(job, b))
        display = job.name or f"tunesdk {names.run_id}"
        spec = evaluator.evaluator_body(job, display)
        _apply_backend_options(job, body, objective)
        return b, FireworksRequest(objective, names.job_id, body, evaluator=spec)
    else:
        body = {**top, **config}
    _apply_backend_options(job, body, objective)
    return b, FireworksRequest(objective, names.job_id, body)


def _rft_fields(job: Job, b: PlanBuilder) -> dict[str, Any]:
    """lossConfig and inferenceParameters of a reinforcement job, with their plan rows."""
    count = len(job.rewards)
    b.mapped(
        "rewards",
        "evaluator",
        reason=f"{count} grader(s) built into the evaluator's main.py (created first)",
    )
    if job.reward_weights is not None:
        b.mapped("reward_weights", "evaluator main.py", reason="the score is the weighted sum")
    loss: dict[str, Any] = {}
    if job.loss_type is not None:
        if job.loss_type not in RFT_LOSSES:
            raise JobError(
                f"Fireworks' reinforcement losses are {', '.join(RFT_LOSSES)} (and GSPO_TOKEN), "
                f"not {job.loss_type!r}",
                where="job.loss_type",
                fix='use loss_type="grpo" or "dapo", or leave it unset for Fireworks\' default',
            )
        loss["method"] = RFT_LOSSES[job.loss_type]
        b.mapped("loss_type", "lossConfig.method", loss["method"])
    else:
        b.defaulted("loss_type", "Fireworks' default reinforcement loss")
    if "beta" in job.options_set():
        loss["klBeta"] = job.beta
        b.mapped("beta", "lossConfig.klBeta", job.beta)
    else:
        b.defaulted("beta", "the trainer's default KL coefficient")
    inference: dict[str, Any] = {}
    for option, key in (
        ("num_generations", "responseCandidatesCount"),
        ("max_completion_length", "maxOutputTokens"),
        ("temperature", "temperature"),
    ):
        value = getattr(job, option)
        if value is not None:
            inference[key] = value
            b.mapped(option, f"inferenceParameters.{key}", value)
        else:
            b.defaulted(option, "Fireworks' default")
    fields: dict[str, Any] = {}
    if loss:
        fields["lossConfig"] = loss
    if inference:
        fields["inferenceParameters"] = inference
    b.notes.append(
        "the evaluator's evaluate(messages, ground_truth=None, **kwargs) gets the rollout "
        "(the answer last) and the row's other columns; its score is the graders' weighted sum"
    )
    return fields


def _map_method(job: Job, b: PlanBuilder, config: dict[str, Any]) -> None:
    from tunesdk.methods import LoRA, QLoRA

    method = job.method
    if not isinstance(method, LoRA):
        raise JobError(
            f"Fireworks fine-tunes LoRA adapters only; method {method.kind!r} is not available",
            where="job.method",
            fix="use `method: lora` (or qlora, trained as LoRA), or a backend that "
            f"supports {method.kind} (trl, axolotl)",
        )
    if not LORA_RANKS[0] <= method.r <= LORA_RANKS[1]:
        raise JobError(
            f"Fireworks trains LoRA ranks {LORA_RANKS[0]}-{LORA_RANKS[1]}, got r={method.r}",
            where="job.method.r",
            fix=f"use r between {LORA_RANKS[0]} and {LORA_RANKS[1]} (8-32 is typical)",
        )
    config["loraRank"] = method.r
    if isinstance(method, QLoRA):
        b.dropped(
            "method",
            "Fireworks has no QLoRA: it trains a LoRA with the same rank at a precision it chooses",
        )
    else:
        b.mapped("method", native=None, reason="Fireworks trains a LoRA addon")
    b.mapped("method.r", "loraRank", method.r)
    fixed = "the API has no field for it; Fireworks chooses it"
    _unsupported(b, "method.alpha", f"LoRA alpha: {fixed}", default=method.alpha == 2 * method.r)
    _unsupported(b, "method.dropout", f"LoRA dropout: {fixed}", default=True)
    _unsupported(
        b,
        "method.target_modules",
        f"target modules: {fixed} (all linear projections)",
        default=method.target_modules == "all-linear",
    )
    _unsupported(
        b, "method.use_dora", "Fireworks trains plain LoRA, not DoRA", default=not method.use_dora
    )
    _unsupported(
        b,
        "method.use_rslora",
        "Fireworks has no rsLoRA scaling option",
        default=not method.use_rslora,
    )
    if isinstance(method, QLoRA):
        for name in ("bits", "quant_type", "double_quant", "compute_dtype"):
            _unsupported(b, f"method.{name}", "Fireworks chooses the training precision itself")


def _map_hyperparameters(
    job: Job, b: PlanBuilder, config: dict[str, Any], context: int | None, examples: int | None
) -> None:
    user = job.options_set()
    config["epochs"] = job.epochs
    b.mapped("epochs", "epochs", job.epochs)
    config["learningRate"] = job.effective_learning_rate
    b.mapped(
        "learning_rate",
        "learningRate",
        job.effective_learning_rate,
        reason=None if "learning_rate" in user else f"the {job.method.kind} default",
    )
    if context is not None and job.max_seq_length > context:
        raise JobError(
            f"max_seq_length {job.max_seq_length} exceeds the base model's context of "
            f"{context} tokens",
            where="job.max_seq_length",
            fix=f"use max_seq_length <= {context}",
        )
    config["maxContextLength"] = job.max_seq_length
    b.mapped("max_seq_length", "maxContextLength", job.max_seq_length)

    sends_batch = bool({"batch_size", "warmup_ratio"} & user)
    if sends_batch:
        config["batchSizeSamples"] = job.batch_size
        b.mapped(
            "batch_size",
            "batchSizeSamples",
            job.batch_size,
            reason="examples per optimizer step (Fireworks' batchSize counts packed tokens)",
        )
    else:
        b.defaulted(
            "batch_size",
            "not sent: Fireworks packs sequences into token batches and sizes them itself "
            "(set batch_size to send batchSizeSamples)",
        )
    _unsupported(
        b,
        "micro_batch_size",
        "Fireworks packs sequences into token micro-batches; set backend_options "
        "{'fireworks': {'batchSize': <tokens>}} to size them",
        default="micro_batch_size" not in user,
    )
    if "warmup_ratio" in user:
        steps = _total_steps(job, examples)
        if steps is None:
            b.dropped(
                "warmup_ratio",
                "Fireworks takes warmup in steps and the number of steps is unknown (the data "
                "could not be counted); set backend_options "
                "{'fireworks': {'learningRateWarmupSteps': N}}",
            )
        else:
            warmup = round(job.warmup_ratio * steps)
            config["learningRateWarmupSteps"] = warmup
            b.mapped(
                "warmup_ratio",
                "learningRateWarmupSteps",
                warmup,
                reason=f"{job.warmup_ratio} x {steps} steps",
            )
    else:
        b.defaulted("warmup_ratio", "not sent: Fireworks applies its own warmup")
    if "weight_decay" in user:
        config["optimizerWeightDecay"] = job.weight_decay
        b.mapped("weight_decay", "optimizerWeightDecay", job.weight_decay)
    else:
        b.defaulted("weight_decay", "not sent: Fireworks' optimizer default")
    if job.chat_template is not None:
        from tunesdk.paths import chat_template_text

        config["jinjaTemplate"] = chat_template_text(job.chat_template)  # a file: its text
        b.mapped("chat_template", "jinjaTemplate", job.chat_template)
    else:
        b.defaulted("chat_template", "the base model's chat template")


def held_out_size(examples: int, eval_split: float) -> int:
    """How many of ``examples`` an ``eval_split`` holds out (as ``tunesdk.data.Dataset.split``)."""
    return min(examples - 1, max(1, round(examples * eval_split)))


def _total_steps(job: Job, examples: int | None) -> int | None:
    if examples is None:
        return None
    train = examples - (held_out_size(examples, job.eval_split) if job.eval_split else 0)
    return job.epochs * max(1, math.ceil(max(train, 1) / job.batch_size))


def _map_eval(
    job: Job, b: PlanBuilder, top: dict[str, Any], names: RunNames, objective: str
) -> None:
    if objective in ("dpo", "orpo"):
        for option in ("eval_data", "eval_split"):
            _unsupported(
                b,
                option,
                "Fireworks preference (DPO, ORPO) jobs take no evaluation dataset",
                default=getattr(job, option) is None,
            )
        return
    if job.eval_data is not None or job.eval_split is not None:
        top["evaluationDataset"] = names.dataset_name("eval")
        if job.eval_data is not None:
            b.mapped("eval_data", "evaluationDataset", top["evaluationDataset"])
            b.defaulted("eval_split", "not set")
        else:
            b.mapped(
                "eval_split",
                "evaluationDataset",
                top["evaluationDataset"],
                reason=f"split locally with seed {job.seed} and uploaded as a second dataset",
            )
            b.defaulted("eval_data", "not set")
    else:
        b.defaulted(
            "eval_data", "not set: Fireworks evaluates only when given an evaluation dataset"
        )
        b.defaulted("eval_split", "not set")


def _map_tracking(job: Job, b: PlanBuilder, top: dict[str, Any], *, secrets: bool) -> None:
    trackers = set(job.report_to)
    if "wandb" in trackers:
        wandb: dict[str, Any] = {"enabled": True}
        if job.wandb_project:
            wandb["project"] = job.wandb_project
        entity = os.environ.get("WANDB_ENTITY")
        if entity:
            wandb["entity"] = entity
        key = os.environ.get("WANDB_API_KEY")
        wandb["apiKey"] = (key or "") if secrets else "***"
        top["wandbConfig"] = wandb
        other = sorted(trackers - {"wandb"})
        reason = "Fireworks logs to Weights & Biases itself (key from WANDB_API_KEY)"
        if other:
            reason += f"; {', '.join(other)} not supported"
        b.mapped(
            "report_to",
            "wandbConfig",
            {k: v for k, v in wandb.items() if k != "apiKey"},
            reason=reason,
        )
        if job.wandb_project:
            b.mapped("wandb_project", "wandbConfig.project", job.wandb_project)
        else:
            b.defaulted("wandb_project", "not set: Fireworks picks the project name")
    else:
        _unsupported(
            b, "report_to", "Fireworks logs only to Weights & Biases", default=not trackers
        )
        _unsupported(
            b, "wandb_project", "report_to has no 'wandb'", default=job.wandb_project is None
        )


def _map_unsupported(job: Job, b: PlanBuilder, objective: str) -> None:
    b.mapped("objective", COLLECTIONS[objective][0], objective)
    _unsupported(
        b,
        "max_steps",
        "Fireworks trains whole epochs; it has no step limit",
        default=job.max_steps is None,
    )
    _unsupported(
        b,
        "lr_scheduler",
        "Fireworks has no scheduler option",
        default="lr_scheduler" not in job.options_set(),
    )
    _unsupported(
        b,
        "max_grad_norm",
        "Fireworks has no gradient clipping option",
        default="max_grad_norm" not in job.options_set(),
    )
    _unsupported(
        b, "seed", "the Fireworks job API takes no seed", default="seed" not in job.options_set()
    )
    _unsupported(
        b, "eval_steps", "Fireworks evaluates on its own schedule", default=job.eval_steps is None
    )
    _unsupported(
        b,
        "n_checkpoints",
        "Fireworks keeps the final model; intermediate checkpoints are set by step interval "
        "(backend_options samplerCheckpointSaveIntervalSteps) and are not listed by the API",
        default=job.n_checkpoints is None,
    )
    _unsupported(
        b,
        "train_on_inputs",
        "Fireworks trains on assistant messages only (use per-message weight to skip some)",
        default=not job.train_on_inputs,
    )
    if job.packing:
        b.mapped("packing", native=None, reason="Fireworks always packs sequences")
    else:
        _unsupported(b, "packing", "Fireworks always packs sequences", default=True)
    _unsupported(
        b,
        "output_dir",
        "the model stays on Fireworks as accounts/<account>/models/<outputModel>",
        default=job.output_dir is None,
    )
    for name in ("processes", "gpus", "nodes", "strategy", "deepspeed_stage", "mixed_precision"):
        _unsupported(
            b,
            f"resources.{name}",
            "Fireworks schedules the training hardware itself",
            default=f"resources.{name}" not in job.options_set(),
        )


def _unsupported(b: PlanBuilder, option: str, reason: str, *, default: bool = False) -> None:
    """Record an option Fireworks has no field for: dropped when the user set it, else defaulted."""
    if default and option not in b.job.options_set():
        b.defaulted(option, reason)
    else:
        b.dropped(option, reason)


def _apply_backend_options(job: Job, body: dict[str, Any], objective: str) -> None:
    for key, value in job.backend_options.get(BACKEND, {}).items():
        if key in CLIENT_OPTIONS:
            continue
        if objective in ("dpo", "orpo", "grpo") and key in TRAINING_CONFIG_FIELDS:
            body["trainingConfig"][key] = value
        else:
            body[key] = value


__all__ = [
    "BACKEND",
    "CLIENT_OPTIONS",
    "SINGLE_UPLOAD_LIMIT",
    "FireworksRequest",
    "RunNames",
    "account_for",
    "build_plan",
    "build_request",
    "held_out_size",
]
