"""GRPO, KTO and ORPO on TRL: config defaults, datasets and trainer construction.

The config part is pure (``job.plan("trl")`` imports neither torch nor TRL); the rest runs in the
worker. Defaults are sized for small models and short runs, not TRL's (whose learning rate 1e-6
and 512-token completions suit large models and long runs):

- learning rate: the method's default (2e-4 LoRA/QLoRA, 2e-5 full), as for SFT and DPO;
- ``num_generations`` 4 completions per prompt, ``max_completion_length`` 64 tokens,
  ``temperature`` 1.0, ``loss_type`` TRL's ``"dapo"``;
- GRPO's KL coefficient ``beta`` is 0 (no reference model: half the memory) unless the job sets
  ``beta``; KTO and ORPO use the job's ``beta`` (0.1 by default, TRL's too).
"""

from __future__ import annotations

from typing import Any

from tunesdk.data.objective import require_prompt_only
from tunesdk.errors import DataError
from tunesdk.grpo import grpo_sampling
from tunesdk.job import Job

#: objective -> (trainer class, config class, module holding them)
RL_TRAINERS: dict[str, tuple[str, str, str]] = {
    "grpo": ("GRPOTrainer", "GRPOConfig", "trl"),
    "kto": ("KTOTrainer", "KTOConfig", "trl"),
    # TRL 1.x moved ORPO to trl.experimental
    "orpo": ("ORPOTrainer", "ORPOConfig", "trl.experimental.orpo"),
}

DEFAULT_LOSS_TYPE = "dapo"


def grpo_kwargs(job: Job) -> dict[str, Any]:
    """``GRPOConfig`` kwargs for the RL knobs; JobError when the batch cannot hold whole groups."""
    sampling = grpo_sampling(job)
    kwargs: dict[str, Any] = {
        "num_generations": sampling.num_generations,
        "max_completion_length": sampling.max_completion_length,
        "temperature": sampling.temperature,
        "loss_type": job.loss_type or DEFAULT_LOSS_TYPE,
        "beta": job.beta if "beta" in job.model_fields_set else 0.0,
        "reward_weights": job.reward_weights,
        "use_vllm": False,
        "log_completions": False,
    }
    return kwargs


# ---- worker side ----------------------------------------------------------------------------


def grpo_dataset(dataset: Any) -> Any:
    """``prompt`` (text, or messages for chat data) plus every reference column, as
    ``datasets.Dataset`` (``Dataset.to("trl")``'s rows): TRL passes the extra columns to reward
    functions as kwargs."""
    import datasets

    from tunesdk.data.convert import to_trl

    rows: list[dict[str, Any]] = []
    for record in dataset:
        require_prompt_only(record)
        rows.append(to_trl(record))
    return datasets.Dataset.from_list(rows)


def kto_dataset(dataset: Any) -> Any:
    """``prompt``/``completion``/``label`` columns (TRL's unpaired preference shape,
    ``Dataset.to("trl")``'s rows)."""
    import datasets

    from tunesdk.data.convert import to_trl

    rows: list[dict[str, Any]] = []
    for record in dataset:
        if getattr(record, "label", None) is None:
            raise DataError(
                f"objective kto needs prompt/completion/label rows; {record.source or 'a row'} "
                "has no label",
                where="job.data",
                fix='give {"prompt": ..., "completion": ..., "label": true|false} rows',
            )
        rows.append(to_trl(record))
    return datasets.Dataset.from_list(rows)


def orpo_dataset(pairs: Any, tokenizer: Any) -> Any:
    """Preference pairs as text: TRL's experimental ORPOTrainer takes string prompts, so chat
    pairs go through the tokenizer's chat template first, into a new dataset: ``map`` keeps
    the message-list column type and casts the text to a list of characters (what TRL's own
    template step inside the trainer does to such data)."""
    import datasets
    from trl.data_utils import maybe_apply_chat_template

    return datasets.Dataset.from_list([maybe_apply_chat_template(row, tokenizer) for row in pairs])


def trainer_classes(objective: str) -> tuple[type, type]:
    """(trainer class, config class) of an RL/preference objective."""
    import importlib
    import warnings

    trainer, config, module_name = RL_TRAINERS[objective]
    with warnings.catch_warnings():  # "experimental" import warnings: the plan says where it is
        warnings.simplefilter("ignore")
        module = importlib.import_module(module_name)
    return getattr(module, trainer), getattr(module, config)


def reward_functions(job: Job) -> list[Any]:
    """The job's rewards as checked callables, each named for TRL's ``rewards/<name>/mean``."""
    from tunesdk.rewards import checked, resolve_reward, reward_name

    names: list[str] = []
    functions = []
    for i, reward in enumerate(job.rewards):
        name = reward_name(reward, i)
        if name in names:  # two rewards with one name would merge in the logs
            name = f"{name}_{i}"
        names.append(name)
        functions.append(checked(resolve_reward(reward, i), name))
    return functions


def build_trainer(
    objective: str,
    native: dict[str, Any],
    model: Any,
    tokenizer: Any,
    train_ds: Any,
    eval_ds: Any,
    callbacks: list[Any],
    peft_config: Any,
    job: Job,
    trainer_class: Any = None,
) -> Any:
    """The GRPO/KTO/ORPO trainer for ``native``'s config."""
    base, config_class = trainer_classes(objective)
    config = config_class(**native["config"])
    cls = trainer_class(base) if trainer_class is not None else base
    kwargs: dict[str, Any] = {
        "model": model,
        "args": config,
        "train_dataset": train_ds,
        "eval_dataset": eval_ds,
        "processing_class": tokenizer,
        "callbacks": callbacks,
        "peft_config": peft_config,
    }
    if objective == "grpo":
        kwargs["reward_funcs"] = reward_functions(job)
    trainer = cls(**kwargs)
    if objective == "grpo":  # GRPO samples with trainer.model.generate: a prefix must reach it
        from tunesdk_trl.inference import honour_prefix

        honour_prefix(trainer.model)
    return trainer
