"""Job → the Tinker training loop's settings, one row per option.

Pure: no network, no tokenizer, no SDK import, so ``job.plan("tinker")`` is instant. The worker
runs the loop from this same ``native`` dict (`loop_settings`), so the plan shows what runs.
"""

from __future__ import annotations

from typing import Any

from tunesdk.backend import Plan, PlanBuilder
from tunesdk.errors import JobError
from tunesdk.grpo import (
    DEFAULT_MAX_COMPLETION_LENGTH,
    DEFAULT_NUM_GENERATIONS,
    DEFAULT_TEMPERATURE,
    grpo_sampling,
)
from tunesdk.job import Job
from tunesdk.methods import LoRA
from tunesdk_tinker import service

#: Tinker's policy-gradient losses the GRPO loop can use (``backend_options.tinker.rl_loss``)
RL_LOSSES = ("importance_sampling", "ppo", "cispo")
DEFAULT_RL_LOSS = "importance_sampling"
#: AdamW as torch (and so TRL) defaults it; Tinker's own defaults differ (beta2 0.95, eps 1e-12)
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
#: name of the sampler weights saved at the end (``job.suffix`` replaces it)
FINAL_NAME = "final"
ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP = ("gate_proj", "up_proj", "down_proj")
UNEMBED = ("lm_head",)

#: what each backend_options.tinker key does (the plan passes them through; others are refused)
OPTION_KEYS = {
    "provider": "service preset: tinker (default) or together",
    "base_url": "the service URL",
    "api_key": "the service key (never stored: read in the worker's environment)",
    "tokenizer": "tokenizer to load instead of the base model's (HF id or local path)",
    "rl_loss": f"GRPO loss: one of {', '.join(RL_LOSSES)}",
    "train_unembed": "also put LoRA on the unembedding (lm_head)",
    "ttl_seconds": "lifetime of saved states and sampler weights on the service",
}


def check_options(job: Job) -> dict[str, Any]:
    """``backend_options["tinker"]``; JobError for an unknown key or a bad value."""
    options = service.options(job)
    unknown = sorted(set(options) - set(OPTION_KEYS))
    if unknown:
        raise JobError(
            f"unknown backend_options.tinker key(s): {', '.join(unknown)}",
            where="backend_options.tinker",
            fix="use " + "; ".join(f"{k} ({v})" for k, v in OPTION_KEYS.items()),
        )
    service.provider_of(job)
    rl_loss = options.get("rl_loss", DEFAULT_RL_LOSS)
    if rl_loss not in RL_LOSSES:
        raise JobError(
            f"backend_options.tinker.rl_loss={rl_loss!r} is not a Tinker policy loss this loop "
            "runs",
            where="backend_options.tinker.rl_loss",
            fix=f"use one of {', '.join(RL_LOSSES)}",
        )
    return options


def lora_targets(method: LoRA, options: dict[str, Any]) -> dict[str, bool]:
    """LoRA placement as Tinker's switches: attention, MLP, unembedding."""
    targets = method.target_modules
    if targets == "all-linear":  # PEFT's all-linear: every linear layer but the output head
        chosen = {"train_attn": True, "train_mlp": True, "train_unembed": False}
    else:
        names = {str(t).rsplit(".", 1)[-1] for t in targets}
        chosen = {
            "train_attn": bool(names & set(ATTENTION)),
            "train_mlp": bool(names & set(MLP)),
            "train_unembed": bool(names & set(UNEMBED)),
        }
        if not any(chosen.values()):
            raise JobError(
                f"method.target_modules={list(targets)} names no attention, MLP or lm_head "
                "projection, which is all Tinker can place LoRA on",
                where="job.method.target_modules",
                fix='use "all-linear", or names among ' + ", ".join(ATTENTION + MLP + UNEMBED),
            )
    if "train_unembed" in options:
        chosen["train_unembed"] = bool(options["train_unembed"])
    return chosen


def has_eval(job: Job) -> bool:
    return job.eval_data is not None or job.eval_split is not None


def grpo_settings(job: Job, options: dict[str, Any]) -> dict[str, Any]:
    """The GRPO loop's knobs; JobError when a batch cannot hold whole groups."""
    from tunesdk.rewards import check_worker_rewards, reward_name

    sampling = grpo_sampling(job)
    if not job.rewards:
        raise JobError(
            "objective grpo needs at least one reward",
            where="job.rewards",
            fix='give rewards=[...] (callables, "module:function" strings or graders)',
        )
    check_worker_rewards(job)  # JobError now for a reward the worker could not run
    return {
        "rewards": [reward_name(r, i) for i, r in enumerate(job.rewards)],
        "reward_weights": job.reward_weights,
        "num_generations": sampling.num_generations,
        "prompts_per_step": sampling.prompts_per_step,
        "max_completion_length": sampling.max_completion_length,
        "temperature": sampling.temperature,
        "loss_fn": options.get("rl_loss", DEFAULT_RL_LOSS),
        "advantages": "group-normalized: (reward - group mean) / (group std + 1e-4)",
        # 0 unless the job sets it, as the trl backend (and GRPOConfig) do
        "beta": job.beta if "beta" in job.options_set() else 0.0,
        "kl": "k3 to the base model (a base-model sampling client's compute_logprobs), folded "
        "into the per-token advantages: A - beta * (1 - exp(ref - logp))",
        "sampler": "save_weights_and_get_sampling_client() before each step (on-policy)",
    }


def loop_settings(job: Job, objective: str) -> dict[str, Any]:
    """The whole native description the worker runs."""
    options = check_options(job)
    method = job.method
    if not isinstance(method, LoRA):  # the capability check refuses it first
        raise JobError("Tinker trains LoRA adapters only", where="job.method", fix="use ts.LoRA()")
    micro = job.effective_micro_batch_size
    if job.batch_size % micro:
        raise JobError(
            f"batch_size={job.batch_size} is not a multiple of micro_batch_size={micro}",
            where="job.micro_batch_size",
            fix=job.fixes.get("micro_batch_size", "make batch_size a multiple of it"),
        )
    base_model = job.model_for("tinker")
    loss_fn = {
        "sft": "cross_entropy",
        "dpo": "forward_backward_custom (DPO loss on the logprobs)",
        "grpo": "",
    }[objective]
    native: dict[str, Any] = {
        "service": service.describe(job),
        "base_model": base_model,
        "tokenizer": str(options.get("tokenizer") or base_model),
        "training_client": {
            "call": "ServiceClient.create_lora_training_client",
            "rank": method.r,
            "seed": job.seed,
            **lora_targets(method, options),
        },
        "loop": {
            "objective": objective,
            "loss_fn": loss_fn,
            "epochs": job.epochs,
            "max_steps": job.max_steps,
            "batch_size": job.batch_size,
            "forward_backward_calls_per_step": job.batch_size // micro,
            "loss_normalization": "per-token NLL summed over the batch's learned tokens and "
            "divided by their count (the batch mean, as TRL's SFT loss)",
            "learning_rate": job.effective_learning_rate,
            "lr_scheduler": job.lr_scheduler,
            "warmup_ratio": job.warmup_ratio,
            "optimizer": {
                "type": "adamw",
                "beta1": ADAM_BETAS[0],
                "beta2": ADAM_BETAS[1],
                "eps": ADAM_EPS,
                "weight_decay": job.weight_decay,
                "grad_clip_norm": job.max_grad_norm,
            },
            "max_seq_length": job.max_seq_length,
            "shuffle_seed": job.seed,
            "train_on_inputs": job.train_on_inputs,
            "eval": (
                {"every_steps": job.eval_steps or "epoch", "call": "TrainingClient.forward"}
                if has_eval(job)
                else None
            ),
            "checkpoints": {
                "call": "TrainingClient.save_state",
                "every": (
                    f"{job.n_checkpoints} evenly spaced" if job.n_checkpoints else "epoch end"
                ),
                "name": "step-<N>",
                "ttl_seconds": options.get("ttl_seconds"),
            },
        },
        "result": {
            "call": "TrainingClient.save_weights_for_sampler",
            "name": job.suffix or FINAL_NAME,
            "export": "TrainingClient.save_weights_external (same name), for model.download()",
        },
    }
    if objective == "dpo":
        native["dpo"] = {
            "beta": job.beta,
            "reference": "the base model: logprobs from TrainingClient.forward before the "
            "first update (LoRA starts at zero, so the untrained adapter is the base model)",
        }
    if objective == "grpo":
        native["grpo"] = grpo_settings(job, options)
        native["loop"]["loss_fn"] = native["grpo"]["loss_fn"]
        native["loop"]["loss_normalization"] = "advantage-weighted logprob ratio, summed over "
        "completion tokens and divided by their count"
    return native


def _drop_or_default(builder: PlanBuilder, option: str, reason: str) -> None:
    """Dropped when the user set it; the service's own behaviour (defaulted) when not."""
    if option in builder.job.options_set():
        builder.dropped(option, reason)
    else:
        builder.defaulted(option, reason)


def build_plan(job: Job, backend: str = "tinker") -> Plan:
    """The tinker backend's plan: the loop's settings plus one row per Job option."""
    builder = PlanBuilder(job, backend, "managed")
    objective = builder.objective
    native = loop_settings(job, objective)
    builder.native = native
    builder.native_format = "json"
    loop = native["loop"]
    client = native["training_client"]
    method = job.method
    assert isinstance(method, LoRA)

    builder.mapped("objective", "loop.loss_fn", loop["loss_fn"])
    builder.mapped("method", "create_lora_training_client", "LoRA")
    builder.mapped("method.r", "create_lora_training_client(rank=)", client["rank"])
    targets = {k: client[k] for k in ("train_attn", "train_mlp", "train_unembed")}
    builder.mapped(
        "method.target_modules",
        "create_lora_training_client(train_attn=, train_mlp=, train_unembed=)",
        targets,
        reason="Tinker places LoRA per group (attention, MLP, unembedding), not per module",
    )
    _drop_or_default(builder, "method.alpha", "the service fixes the LoRA scaling")
    _drop_or_default(builder, "method.dropout", "the service applies no LoRA dropout")
    _drop_or_default(builder, "method.use_dora", "the service trains plain LoRA")
    _drop_or_default(builder, "method.use_rslora", "the service fixes the LoRA scaling")

    builder.mapped("epochs", "loop.epochs")
    if job.max_steps is not None:
        builder.mapped("max_steps", "loop.max_steps")
    else:
        builder.defaulted("max_steps", "every step of every epoch", native="loop.max_steps")
    builder.mapped("learning_rate", "optim_step(AdamParams.learning_rate)", loop["learning_rate"])
    builder.mapped(
        "batch_size",
        "loop.batch_size",
        reason="examples per optim_step"
        + (" (completions: prompts × num_generations)" if objective == "grpo" else ""),
    )
    builder.mapped(
        "micro_batch_size",
        "loop.forward_backward_calls_per_step",
        loop["forward_backward_calls_per_step"],
        reason="gradients accumulate on the service across forward_backward calls until optim_step",
    )
    builder.mapped("warmup_ratio", "loop.warmup_ratio", reason="rate computed per step here")
    builder.mapped("lr_scheduler", "loop.lr_scheduler", reason="transformers' formulas")
    builder.mapped("weight_decay", "AdamParams.weight_decay")
    builder.mapped("max_grad_norm", "AdamParams.grad_clip_norm")
    if objective == "grpo":
        _drop_or_default(
            builder, "max_seq_length", "GRPO bounds the generated tokens: max_completion_length"
        )
    else:
        builder.mapped("max_seq_length", "loop.max_seq_length", reason="cut at the right here")
    builder.mapped(
        "seed",
        "shuffle seed, LoraConfig.seed, SamplingParams.seed",
        reason="the service's kernels may still differ run to run",
    )
    if objective == "dpo":
        builder.mapped("beta", "dpo.beta")
    if objective == "grpo":
        _grpo_rows(builder, job, native["grpo"])
    if has_eval(job):
        source = "eval_data" if job.eval_data is not None else "eval_split"
        builder.mapped(source, "TrainingClient.forward", reason="eval loss, no gradients")
        builder.mapped("eval_steps", "loop.eval.every_steps", loop["eval"]["every_steps"])
    else:
        builder.defaulted("eval_steps", "no eval data: no evaluation")
    if job.n_checkpoints is not None:
        builder.mapped("n_checkpoints", "save_state", loop["checkpoints"]["every"])
    else:
        builder.defaulted(
            "n_checkpoints",
            "save_state at each epoch end (and when cancelled)",
            native="save_state",
            native_value="epoch end",
        )
    if objective == "sft":
        builder.mapped(
            "train_on_inputs",
            "Datum.loss_fn_inputs.weights",
            "all tokens" if job.train_on_inputs else "assistant tokens only",
            reason="tunesdk tokenizes the data and builds the weights",
        )
        _drop_or_default(builder, "packing", "each example is one Datum: nothing is packed")
    else:
        name = objective.upper()
        _drop_or_default(builder, "train_on_inputs", f"{name} scores the responses only")
        _drop_or_default(builder, "packing", f"{name} does not pack its examples")
    if job.chat_template is not None:
        builder.mapped("chat_template", "tokenizer.chat_template", reason="set before tokenizing")
    builder.mapped(
        "suffix",
        "save_weights_for_sampler(name=)",
        native["result"]["name"],
        reason="the name of the final sampler weights",
    )
    _drop_or_default(
        builder,
        "output_dir",
        "the weights stay on the service; model.download(path) writes them locally",
    )
    _drop_or_default(builder, "report_to", "events only (the service keeps its own metrics)")
    _drop_or_default(builder, "wandb_project", "events only (no tracker integration)")
    for option in ("processes", "gpus", "nodes", "strategy", "deepspeed_stage"):
        _drop_or_default(builder, f"resources.{option}", "the service allocates the hardware")
    _drop_or_default(
        builder, "resources.mixed_precision", "the service chooses the training precision"
    )
    builder.notes.append(
        "the training loop runs in tunesdk's worker process on this machine; forward_backward, "
        "optim_step, sampling and checkpoints run on the service"
    )
    return builder.build()


def _grpo_rows(builder: PlanBuilder, job: Job, grpo: dict[str, Any]) -> None:
    builder.mapped(
        "rewards", "grpo.rewards", grpo["rewards"], reason="imported and scored in the worker"
    )
    knobs = {
        "num_generations": (DEFAULT_NUM_GENERATIONS, "SamplingClient.sample(num_samples=)"),
        "max_completion_length": (DEFAULT_MAX_COMPLETION_LENGTH, "SamplingParams.max_tokens"),
        "temperature": (DEFAULT_TEMPERATURE, "SamplingParams.temperature"),
    }
    for option, (default, native) in knobs.items():
        if getattr(job, option) is None:
            builder.defaulted(
                option,
                f"{default} (tunesdk's small-model default)",
                native=native,
                native_value=default,
            )
        else:
            builder.mapped(option, native)
    if job.reward_weights is None:
        builder.defaulted("reward_weights", "every reward weighs 1.0")
    else:
        builder.mapped("reward_weights", "grpo.reward_weights")
    _drop_or_default(
        builder,
        "loss_type",
        f"the loop trains with Tinker's {grpo['loss_fn']} loss (backend_options.tinker.rl_loss "
        f"chooses among {', '.join(RL_LOSSES)})",
    )
    if "beta" in job.options_set():
        builder.mapped(
            "beta",
            "grpo.beta",
            grpo["beta"],
            reason="per-token k3 KL to the base model, folded into the advantages",
        )
    else:
        builder.defaulted(
            "beta",
            "0, no KL penalty (TRL's GRPO default): set beta for one to the base model",
            native="grpo.beta",
            native_value=0.0,
        )
    builder.notes.append(
        "GRPO samples with the current weights before each step; watch Progress.reward_mean "
        "(the policy loss is about 0 on-policy)"
    )


__all__ = ["build_plan", "check_options", "loop_settings"]
