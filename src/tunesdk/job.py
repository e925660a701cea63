"""The Job: one description of a fine-tuning run, valid for every backend."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import yaml
from pydantic import ConfigDict, Field, field_serializer, field_validator, model_validator

from tunesdk._spec import Spec, shown, suggest
from tunesdk.errors import JobError
from tunesdk.methods import METHOD_KINDS, LoRA, Method
from tunesdk.secrets import redact_tree
from tunesdk.yaml_safe import YAMLRefused, load_yaml

if TYPE_CHECKING:
    from tunesdk.backend import Plan
    from tunesdk.data.report import Report as DataReport
    from tunesdk.estimation import Estimate
    from tunesdk.events import Event
    from tunesdk.run import Result, Run

Objective = Literal["sft", "dpo", "grpo", "kto", "orpo"]
#: GRPO loss variants (TRL's ``loss_type``; "dapo" is TRL 1.16's default)
LossType = Literal["grpo", "dapo", "dr_grpo", "bnpo", "cispo", "sapo", "luspo", "vespo"]
Scheduler = Literal[
    "linear", "cosine", "constant", "constant_with_warmup", "cosine_with_restarts", "polynomial"
]
Tracker = Literal["wandb", "tensorboard", "mlflow"]


class ModelRef(Spec):
    """A base model with per-backend ids, for when backends name the same model differently.

    ``ModelRef(name="meta-llama/Llama-3.1-8B-Instruct", ids={"fireworks": "accounts/fireworks/models/..."})``
    """

    name: str = Field(min_length=1)
    ids: dict[str, str] = Field(default_factory=dict)

    def for_backend(self, backend: str) -> str:
        """The id this backend knows the model by (``name`` when no override is given)."""
        return self.ids.get(backend, self.name)


class Resources(Spec):
    """Where and how wide a local backend trains."""

    processes: int = Field(1, ge=1, description="training processes per node (one per GPU on GPUs)")
    gpus: int | None = Field(None, ge=0, description="GPUs to use; None = all visible")
    nodes: int = Field(1, ge=1)
    strategy: Literal["auto", "ddp", "fsdp", "deepspeed"] = "auto"
    deepspeed_stage: Literal[1, 2, 3] | None = None
    mixed_precision: Literal["no", "fp16", "bf16"] | None = None
    launcher: str = Field(
        "local",
        min_length=1,
        description="where the worker runs: local (this machine), ray, skypilot "
        "(see `tunesdk launchers`); its options go in launcher_options",
    )
    accelerators: str | None = Field(
        None,
        description='accelerators per node for cluster launchers, e.g. "H100:8" (type:count)',
    )
    cloud: str | None = Field(
        None, description="cloud or infra for launchers that provision (skypilot), e.g. aws"
    )
    spot: bool = Field(False, description="use spot/preemptible machines (skypilot), recovered")
    fixes: ClassVar[dict[str, str]] = {
        "strategy": 'use "auto", "ddp", "fsdp" or "deepspeed"',
        "deepspeed_stage": "use ZeRO stage 1, 2 or 3",
    }

    def gpus_per_node(self) -> int | None:
        """GPUs each node trains on: ``gpus``, else the whole count in ``accelerators``
        (``"H100:8"`` → 8, ``"H100"`` → 1); None when neither says."""
        if self.gpus is not None:
            return self.gpus
        if not self.accelerators:
            return None
        count = self.accelerators.partition(":")[2]
        return int(count) if count.isdigit() else 1

    def processes_per_node(self) -> int:
        """Training processes per node: ``processes``, or one per GPU when only the GPU count
        (``gpus`` or ``accelerators``) is given."""
        if self.processes > 1:
            return self.processes
        gpus = self.gpus_per_node()
        return gpus if gpus and gpus > 1 else 1


class Job(Spec):
    """One fine-tuning job: base model, data, objective, method, hyperparameters, output, resources.

    Unset hyperparameters take the guide's defaults; ``learning_rate=None`` means the method's default
    (2e-4 for LoRA/QLoRA, 2e-5 for full fine-tuning).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    model: str | ModelRef = Field(
        description="HF model id, local path, or ModelRef with per-backend ids"
    )
    data: Any = Field(
        description="training data: path, list of dicts, datasets.Dataset or ts.Dataset"
    )
    eval_data: Any = None
    eval_split: float | None = Field(None, gt=0.0, lt=1.0)
    objective: Objective | None = Field(
        None,
        description="sft, dpo, grpo, kto or orpo; None = inferred from the data (prompt-only "
        "data with rewards: grpo; prompt/completion/label: kto; pairs: dpo; orpo never inferred)",
    )
    method: Method = Field(default_factory=LoRA)

    epochs: int = Field(1, ge=1)
    max_steps: int | None = Field(None, ge=1, description="stop after this many optimizer steps")
    learning_rate: float | None = Field(None, gt=0.0, le=1.0)
    batch_size: int = Field(
        8, ge=1, description="effective batch size (all processes, all accumulation)"
    )
    micro_batch_size: int | None = Field(
        None, ge=1, description="per-step batch; None = batch_size"
    )
    warmup_ratio: float = Field(0.05, ge=0.0, lt=1.0)
    lr_scheduler: Scheduler = "linear"
    weight_decay: float = Field(0.0, ge=0.0)
    max_grad_norm: float = Field(1.0, gt=0.0)
    max_seq_length: int = Field(2048, ge=8)
    seed: int = 42
    beta: float = Field(
        0.1,
        ge=0.0,
        description="DPO/KTO temperature, ORPO's odds-ratio weight, GRPO's KL coefficient "
        "(GRPO uses 0, no reference model, unless beta is set)",
    )

    rewards: list[Any] = Field(
        default_factory=list,
        description="GRPO rewards: callables (prompts, completions, **columns) -> list[float], "
        "'module:function' strings, or graders from tunesdk.graders",
    )
    reward_weights: list[float] | None = Field(
        None, description="one weight per reward; None = all 1.0"
    )
    num_generations: int | None = Field(
        None, ge=2, description="completions sampled per prompt (GRPO); None = backend default"
    )
    max_completion_length: int | None = Field(
        None,
        ge=1,
        description="most tokens generated per completion (GRPO); None = backend default",
    )
    temperature: float | None = Field(
        None, gt=0.0, description="sampling temperature for GRPO generations; None = 1.0"
    )
    loss_type: LossType | None = Field(
        None, description="GRPO loss variant (grpo, dapo, dr_grpo, bnpo, ...); None = dapo"
    )

    eval_steps: int | None = Field(
        None, ge=1, description="evaluate every N steps; None = per epoch"
    )
    n_checkpoints: int | None = Field(
        None, ge=1, description="checkpoints to keep/save; None = backend's"
    )
    train_on_inputs: bool = False
    packing: bool = False
    chat_template: str | None = None

    name: str | None = None
    suffix: str | None = Field(
        None, max_length=40, description="added to the provider's model name"
    )
    output_dir: str | None = None
    report_to: list[Tracker] = Field(default_factory=list)
    wandb_project: str | None = None

    resources: Resources = Field(default_factory=Resources)
    strict: bool = False
    backend_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    launcher_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="per-launcher options, e.g. {ray: {address: ..., storage: ...}}; shown in "
        "plans as launcher_options.LAUNCHER.KEY rows",
    )

    fixes: ClassVar[dict[str, str]] = {
        "epochs": "use a whole number ≥ 1 (1–3 is typical for LLMs; more risks overfitting)",
        "learning_rate": "use a positive rate, e.g. 2e-4 for LoRA/QLoRA or 2e-5 for full fine-tuning",
        "batch_size": "use a whole number ≥ 1",
        "micro_batch_size": "make batch_size a multiple of micro_batch_size "
        "(gradient accumulation = batch_size / micro_batch_size)",
        "warmup_ratio": "use a fraction in [0, 1), e.g. 0.05 for 5% of steps",
        "eval_split": "use a fraction in (0, 1), e.g. 0.1",
        "objective": 'use "sft", "dpo", "grpo", "kto" or "orpo" (or leave it unset to infer it '
        "from the data)",
        "loss_type": 'use "grpo", "dapo", "dr_grpo", "bnpo", "cispo", "sapo", "luspo" or "vespo"',
        "num_generations": "use at least 2 completions per prompt (GRPO compares them), e.g. 4",
        "rewards": 'give callables, "module:function" strings or graders from tunesdk.graders',
        "method": "set method to full, lora, qlora, prefix or adapter — e.g. `method: lora`, or "
        "`method: {kind: lora, r: 16}` for its options",
        "max_seq_length": "use a length ≥ 8 tokens, at most the base model's context",
        "report_to": 'use any of "wandb", "tensorboard", "mlflow"',
        "eval_data": "give eval_data or eval_split, not both",
        "suffix": "use at most 40 characters",
    }
    synonyms: ClassVar[dict[str, str]] = {
        "lr": "learning_rate",
        "num_epochs": "epochs",
        "n_epochs": "epochs",
        "num_train_epochs": "epochs",
        "max_length": "max_seq_length",
        "sequence_len": "max_seq_length",
        "base_model": "model",
        "dataset": "data",
        "train_data": "data",
        "validation_data": "eval_data",
        "val_data": "eval_data",
        "warmup": "warmup_ratio",
        "scheduler": "lr_scheduler",
        "reward_funcs": "rewards",
        "reward_functions": "rewards",
        "graders": "rewards",
        "max_new_tokens": "max_completion_length",
    }

    # ---- validation -----------------------------------------------------------------------------

    @field_validator("model")
    @classmethod
    def _model_not_blank(cls, value: str | ModelRef) -> str | ModelRef:
        if isinstance(value, str) and not value.strip():
            raise ValueError("model is empty: give a Hugging Face id or a local path")
        return value

    @field_validator("method", mode="before")
    @classmethod
    def _method_shorthand(cls, value: Any) -> Any:
        # `method: lora` / method="qlora", a method class, and a mapping without `kind` (LoRA, the
        # default method); a misspelt kind gets a did-you-mean instead of pydantic's tag error
        if isinstance(value, type) and value in METHOD_KINDS.values():
            return value()
        if isinstance(value, str):
            value = {"kind": value}
        if isinstance(value, Mapping):
            value = dict(value)
            kind = value.setdefault("kind", "lora")
            if isinstance(kind, str):
                name = _KIND_SYNONYMS.get(kind.strip().lower(), kind.strip().lower())
                if name not in METHOD_KINDS:
                    close = suggest(name, list(METHOD_KINDS), _KIND_SYNONYMS)
                    hint = f" (did you mean {close!r}?)" if close else ""
                    raise ValueError(f"unknown method {kind[:40]!r}{hint}")
                value["kind"] = name
        return value

    @field_validator("launcher_options", mode="before")
    @classmethod
    def _options_per_launcher(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            flat = [str(k)[:40] for k, v in value.items() if not isinstance(v, Mapping)]
            if flat:
                raise ValueError(
                    f"{', '.join(map(repr, flat))} must sit under a launcher name: write "
                    "`launcher_options: {LAUNCHER: {option: value}}`, e.g. "
                    "`launcher_options: {ray: {" + flat[0] + ": ...}}`"
                )
        return value

    @field_validator("backend_options", mode="before")
    @classmethod
    def _options_per_backend(cls, value: Any) -> Any:
        # `backend_options: {api_key: ...}` (the backend level forgotten) is a common slip; say so
        # without echoing the value, which is often a credential
        if isinstance(value, Mapping):
            flat = [str(k)[:40] for k, v in value.items() if not isinstance(v, Mapping)]
            if flat:
                raise ValueError(
                    f"{', '.join(map(repr, flat))} must sit under a backend name: write "
                    "`backend_options: {BACKEND: {option: value}}`, e.g. "
                    "`backend_options: {together: {" + flat[0] + ": ...}}`"
                )
        return value

    @field_validator("rewards", mode="before")
    @classmethod
    def _rewards_list(cls, value: Any) -> Any:
        from tunesdk.rewards import check_reward

        if value is None:
            return []
        if isinstance(value, str | Mapping) or callable(value):
            value = [value]
        if not isinstance(value, list | tuple):
            raise ValueError(
                f"rewards is {type(value).__name__}: give a list of callables, "
                '"module:function" strings or graders'
            )
        return [check_reward(reward, i) for i, reward in enumerate(value)]

    @field_serializer("rewards")
    def _rewards_out(self, rewards: list[Any]) -> list[Any]:
        from tunesdk.rewards import reward_spec

        return [reward_spec(reward) for reward in rewards]

    @field_validator("data", "eval_data")
    @classmethod
    def _data_source(cls, value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, str):
            if not value.strip():
                raise ValueError("empty path: give a file, a directory or a glob")
            return value
        if isinstance(value, list):
            bad = next((i for i, row in enumerate(value) if not isinstance(row, Mapping)), None)
            if bad is not None:
                raise ValueError(f"item {bad} is {type(value[bad]).__name__}, expected a dict")
            return value
        if value is None or hasattr(value, "__iter__"):
            return value
        raise ValueError(
            f"unsupported data source {type(value).__name__}: use a path, a list of dicts, "
            "a datasets.Dataset or a ts.Dataset"
        )

    @model_validator(mode="after")
    def _consistent(self) -> Job:
        if self.data is None:
            raise ValueError("data is required")
        micro = self.micro_batch_size
        if micro is not None and (micro > self.batch_size or self.batch_size % micro):
            divisor = max(
                d for d in range(1, min(micro, self.batch_size) + 1) if self.batch_size % d == 0
            )
            raise ValueError(
                f"micro_batch_size must divide batch_size: batch_size={self.batch_size}, "
                f"micro_batch_size={micro}; make batch_size a multiple of micro_batch_size "
                f"(e.g. micro_batch_size={divisor})"
            )
        if self.eval_data is not None and self.eval_split is not None:
            raise ValueError("eval_data and eval_split are both set: give one")
        if self.reward_weights is not None and len(self.reward_weights) != len(self.rewards):
            raise ValueError(
                f"reward_weights has {len(self.reward_weights)} weights for "
                f"{len(self.rewards)} rewards: give one weight per reward (or leave it unset)"
            )
        if self.rewards and self.objective not in (None, "grpo"):
            raise ValueError(
                f"rewards are given but objective is {self.objective}: rewards train only with "
                "`objective: grpo` (or leave objective unset)"
            )
        if self.objective == "grpo" and not self.rewards:
            raise ValueError(
                'objective is grpo but no rewards are given: add `rewards: ["module:function"]` '
                "(a function (prompts, completions, **columns) -> list[float]) or a grader"
            )
        return self

    def __repr_args__(self) -> Any:
        # repr(), str() and rich's pretty printer all read these: secrets and long data stay out
        for name, value in super().__repr_args__():
            if name in ("backend_options", "launcher_options"):
                value = redact_tree(value)
            elif name in ("data", "eval_data") and isinstance(value, list) and len(value) > 3:
                value = _Summary(f"<{len(value)} records>")
            yield name, value

    # ---- derived values -----------------------------------------------------------------------

    @property
    def model_name(self) -> str:
        """The base model's name (a ModelRef's default name)."""
        return self.model.name if isinstance(self.model, ModelRef) else self.model

    def model_for(self, backend: str) -> str:
        """The base model id to use on ``backend``."""
        return self.model.for_backend(backend) if isinstance(self.model, ModelRef) else self.model

    @property
    def effective_learning_rate(self) -> float:
        """``learning_rate``, or the method's default when unset."""
        return self.learning_rate or type(self.method).default_learning_rate

    @property
    def effective_micro_batch_size(self) -> int:
        """The per-step batch: ``micro_batch_size``, or ``batch_size`` when unset."""
        return self.micro_batch_size or self.batch_size

    @property
    def gradient_accumulation_steps(self) -> int:
        """batch_size / micro_batch_size for one process (see ``accumulation_for``)."""
        return self.batch_size // self.effective_micro_batch_size

    def accumulation_for(self, ranks: int) -> int:
        """Gradient accumulation steps when ``ranks`` processes train together:
        ``batch_size / (micro_batch_size × ranks)``, since ``batch_size`` is the effective batch.
        JobError, with batch sizes that work, when it is not a whole number."""
        micro = self.effective_micro_batch_size
        per_step = micro * ranks
        if self.batch_size % per_step:
            valid = [n * per_step for n in range(1, 5)]
            raise JobError(
                f"batch_size={self.batch_size} is not a multiple of micro_batch_size ({micro}) × "
                f"training processes ({ranks}) = {per_step}: the effective batch cannot be split "
                "evenly",
                where="batch_size",
                fix=f"use batch_size in {valid}, or change micro_batch_size/resources.processes",
            )
        return self.batch_size // per_step

    def options_set(self) -> set[str]:
        """Options the user gave explicitly (dotted for method fields, e.g. ``method.r``)."""
        names = set(self.model_fields_set)
        if "method" in names:
            names |= {f"method.{f}" for f in self.method.model_fields_set if f != "kind"}
        if "resources" in names:
            names |= {f"resources.{f}" for f in self.resources.model_fields_set}
        return names

    def validate(  # type: ignore[override]
        self, backend: str | None = None, *, tokenizer: Any = None
    ) -> dict[str, DataReport]:
        """Check the job's data — ``{"data": report, "eval_data": report}`` (eval only when given)
        — with ``backend``'s data rules (generic ones when None) and ``max_seq_length``; never
        raises for bad data: read each report's ``ok`` and ``render()``.

        The job's own fields were validated when it was built. (This replaces pydantic's
        deprecated ``BaseModel.validate`` classmethod; ``Job.model_validate`` builds a Job.)
        """
        # someone called it as pydantic's old classmethod: Job.validate({...})
        if isinstance(self, type | Mapping):
            raise TypeError(
                "Job.validate() checks a job's data; build a Job from a dict with "
                "Job.from_dict(...) (or Job.model_validate(...))"
            )
        from tunesdk.data import Dataset

        reports: dict[str, DataReport] = {}
        for role in ("data", "eval_data"):
            source = getattr(self, role)
            if source is not None:
                reports[role] = Dataset.load(source).validate(
                    backend=backend, max_seq_length=self.max_seq_length, tokenizer=tokenizer
                )
        return reports

    def infer_objective(self) -> Objective:
        """``objective`` if given, else inferred from the data: ``"grpo"`` when rewards are given
        (prompt-only data), ``"dpo"`` for preference pairs, ``"kto"`` for prompt/completion/label
        rows and ``"sft"`` otherwise (``"orpo"`` is never inferred).

        DataError when the data (or eval_data) does not suit the objective: every plan and
        submit fails here, before any worker starts or upload."""
        from tunesdk.data import Dataset
        from tunesdk.data.objective import check_objective

        objective: Objective
        if self.objective:
            objective = self.objective
        elif self.rewards:
            objective = "grpo"
        else:
            kind = Dataset.load(self.data).kind
            objective = "dpo" if kind == "dpo" else "kto" if kind == "kto" else "sft"
        check_objective(
            objective,
            **({"data": self.data} if self.objective or self.rewards else {}),
            eval_data=self.eval_data,
        )
        if objective == "grpo":
            from tunesdk.rewards import check_reward_columns

            check_reward_columns(self)
        return objective

    # ---- serialization ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; in-memory datasets other than lists of dicts cannot be serialized."""
        for name in ("data", "eval_data"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str | list | dict):
                raise JobError(
                    f"{name} is an in-memory {type(value).__name__}, which cannot be written to a file",
                    where=f"job.{name}",
                    fix=f"save it as JSONL (e.g. ds.to('jsonl', 'train.jsonl')) and pass the path as {name}",
                )
        from tunesdk.rewards import reward_spec

        for reward in self.rewards:  # a JobError with the fix, not pydantic's serializer error
            reward_spec(reward)
        return self.model_dump(mode="json", exclude_defaults=False)

    def to_json(self, path: str | Path | None = None) -> str:
        """The job as JSON text (``path``: also write it there)."""
        text = json.dumps(self.to_dict(), indent=2)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    def to_yaml(self, path: str | Path | None = None) -> str:
        """The job as YAML text (``path``: also write it there)."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_dict(
        cls, data: Any, *, base_dir: str | Path | None = None, where: str | None = None
    ) -> Job:
        """Build a Job from a mapping; relative local paths (model, data, eval_data, output_dir,
        chat_template) become absolute against ``base_dir`` (see ``tunesdk.paths``)."""
        job: Job = cls.parse(data, where=where)
        if base_dir is not None:
            from tunesdk.paths import resolve_job_paths

            job = resolve_job_paths(job, base_dir)
        return job

    @classmethod
    def from_yaml(cls, source: str | Path) -> Job:
        """Load a Job from a YAML (or JSON) file, or from YAML text."""
        path = Path(source) if isinstance(source, Path) or "\n" not in str(source) else None
        if path is not None and not path.exists():
            raise JobError(f"job file {path} does not exist", fix="check the path")
        try:
            text = path.read_text(encoding="utf-8") if path is not None else str(source)
        except (UnicodeDecodeError, IsADirectoryError) as exc:
            raise JobError(
                f"cannot read the job file ({type(exc).__name__}: {exc})",
                where=str(path),
                fix="give a UTF-8 YAML or JSON job file (see `tunesdk schema`)",
            ) from None
        try:
            data = load_yaml(text)
        except YAMLRefused as exc:
            raise JobError(
                str(exc),
                where=f"{path or 'job'}:line {exc.line}" if exc.line else str(path or "job"),
                fix="write the values out instead of through anchors and aliases",
            ) from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f"line {mark.line + 1}" if mark is not None else "?"
            raise JobError(
                f"not valid YAML ({getattr(exc, 'problem', exc)})",
                where=f"{path or 'job'}:{line}",
                fix="fix the YAML syntax at that line",
            ) from None
        return cls.from_dict(
            data, base_dir=path.parent if path else None, where=str(path) if path else None
        )

    @classmethod
    def from_json(cls, source: str | Path) -> Job:
        """A Job from a JSON file or JSON text (the inverse of ``to_json``)."""
        return cls.from_yaml(source)

    def with_overrides(self, overrides: Mapping[str, Any]) -> Job:
        """A copy with dotted-key overrides applied, e.g. ``{"method.r": 8, "epochs": 3}``.

        Only the overridden options (and those set before) count as set by the user: options left
        at their defaults stay defaults in plans and strict mode.
        """
        data = _set_fields_of(self)
        for key, value in overrides.items():
            node: dict[str, Any] = data
            current: Any = self
            *parents, leaf = key.split(".")
            for part in parents:
                section = getattr(current, part, None) if current is not None else None
                if part not in node and isinstance(section, Spec):
                    node[part] = _set_fields_of(section)
                child = node.get(part)
                if not isinstance(child, dict):
                    raise JobError(
                        f"cannot set {shown(key)}: {shown(part)} is not a section",
                        where="overrides",
                        fix="use a dotted key of a section, e.g. method.r=8 or resources.processes=2",
                    )
                node, current = child, section
            node[leaf] = value
        job: Job = type(self).parse(data, where="overrides")
        return job

    # ---- running --------------------------------------------------------------------------------

    def plan(self, backend: str, *, launcher: str | None = None) -> Plan:
        """What exactly ``backend`` would run or send for this job (and ``launcher`` submit, as
        for `run`). Pure: no upload, GPU or network."""
        from tunesdk.run import plan_job

        return plan_job(self.with_launcher(launcher), backend)

    def estimate(
        self,
        *,
        prices: str | Path | Mapping[str, Any] | None = None,
        params: str | int | None = None,
        tokenizer: Any = "auto",
        dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16",
        gradient_checkpointing: bool = True,
    ) -> Estimate:
        """Estimate training tokens, cost per managed provider and GPU memory per method.

        ``prices``: a YAML file or dict merged over the shipped, dated price table (also
        ``$TUNESDK_PRICES``). ``params``: the base model's size (``"7B"``) when its shapes are not
        known. ``tokenizer``: ``"auto"`` (the model's own when local, else tiktoken if cached, else
        4 characters per token), or anything ``Dataset.stats`` accepts. Reads the data; no network.
        """
        from tunesdk.estimation import estimate_job

        return estimate_job(
            self,
            prices=prices,
            params=params,
            tokenizer=tokenizer,
            dtype=dtype,
            gradient_checkpointing=gradient_checkpointing,
        )

    def run(
        self,
        backend: str,
        *,
        on_event: Callable[[Event], None] | None = None,
        progress: bool | None = None,
        resume: bool | str = False,
        launcher: str | None = None,
    ) -> Result:
        """Run to the end and return the Result; raises RunFailed / RunCancelled otherwise.

        ``launcher``: where the worker runs (``"local"``, ``"ray"``, ``"skypilot"``), a shortcut
        for ``resources.launcher``."""
        from tunesdk.run import run_job

        job = self.with_launcher(launcher)
        return run_job(job, backend, on_event=on_event, progress=progress, resume=resume)

    def submit(
        self, backend: str, *, resume: bool | str = False, launcher: str | None = None
    ) -> Run:
        """Start the run and return at once (``launcher``: as for `run`)."""
        from tunesdk.run import Run

        return Run.submit(self.with_launcher(launcher), backend, resume=resume)

    def with_launcher(self, launcher: str | None) -> Job:
        """This job with ``resources.launcher`` set (itself when ``launcher`` is None)."""
        if launcher is None or launcher == self.resources.launcher:
            return self
        return self.with_overrides({"resources.launcher": launcher})

    async def arun(
        self,
        backend: str,
        *,
        on_event: Callable[[Event], None] | None = None,
        progress: bool | None = None,
        resume: bool | str = False,
        launcher: str | None = None,
    ) -> Result:
        """Async twin of `run` (same arguments)."""
        from tunesdk.run import arun_job

        job = self.with_launcher(launcher)
        return await arun_job(job, backend, on_event=on_event, progress=progress, resume=resume)

    async def asubmit(
        self, backend: str, *, resume: bool | str = False, launcher: str | None = None
    ) -> Run:
        """Async twin of `submit` (same arguments)."""
        import asyncio

        return await asyncio.to_thread(self.submit, backend, resume=resume, launcher=launcher)


_KIND_SYNONYMS = {
    "prefix_tuning": "prefix",
    "prefix-tuning": "prefix",
    "prefixtuning": "prefix",
    "full_finetune": "full",
    "full-finetune": "full",
    "bottleneck": "adapter",
    "adapters": "adapter",
}


class _Summary:
    """A placeholder shown in a repr instead of a long value."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _set_fields_of(spec: Spec) -> dict[str, Any]:
    """The fields of ``spec`` that were given explicitly, nested specs as such dicts (a method
    always keeps its ``kind``): what rebuilds the spec with the same options set."""
    data: dict[str, Any] = {}
    for name in spec.model_fields_set:
        value = getattr(spec, name)
        data[name] = _set_fields_of(value) if isinstance(value, Spec) else value
    if "kind" in type(spec).model_fields:
        data["kind"] = spec.kind  # type: ignore[attr-defined]
    return data
