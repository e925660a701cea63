"""The Backend plugin interface: what every engine or provider implements.

A backend package subclasses `Backend` (local engines usually subclass
`tunesdk.local.LocalBackend`, providers `tunesdk.managed.ManagedBackend`) and registers it
under the ``tunesdk.backends`` entry-point group::

    [project.entry-points."tunesdk.backends"]
    mybackend = "my_package:MyBackend"
"""

from __future__ import annotations

import json
import textwrap
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from tunesdk.errors import (
    DataError,
    JobError,
    TuneError,
    UnsupportedOption,
    UnsupportedOptionWarning,
)
from tunesdk.secrets import SECRET_WORDS, redact, redact_tree  # noqa: F401  (SECRET_WORDS: old home)

if TYPE_CHECKING:
    from tunesdk.events import Event
    from tunesdk.job import Job
    from tunesdk.models import LocalModel, Messages, ModelHandle, ProviderModel
    from tunesdk.store import RunRecord

BackendKind = Literal["local", "managed"]
OptionStatus = Literal["mapped", "defaulted", "dropped"]


class Capabilities(BaseModel):
    """What a backend can do; used for planning and for ``tunesdk backends``."""

    model_config = ConfigDict(frozen=True)

    objectives: frozenset[str] = frozenset({"sft"})
    methods: frozenset[str] = frozenset({"lora"})
    needs_gpu: bool = False
    multi_process: bool = False
    resume: bool = False
    eval: bool = True
    download: bool = False
    notes: str | None = None
    #: why a method or objective this backend lacks is missing and what to use instead, keyed by
    #: its name (``{"adapter": "Together trains LoRA or full fine-tuning only"}``): the wording of
    #: the core's JobError (a generic sentence when a name has none)
    unsupported: dict[str, str] = Field(default_factory=dict)

    def __hash__(self) -> int:  # frozen, so hashable — the dict field hashed by its items
        return hash(
            tuple((k, tuple(sorted(v.items())) if isinstance(v, dict) else v) for k, v in self)
        )


class Check(BaseModel):
    """Whether a backend can run on this machine now and, if not, the exact fix."""

    usable: bool
    reason: str | None = None
    fix: str | None = None
    versions: dict[str, str] = Field(default_factory=dict)


class PlanRow(BaseModel):
    """The fate of one Job option on one backend."""

    option: str
    value: Any = None
    status: OptionStatus
    native: str | None = Field(None, description="native key (dotted path) it maps to")
    native_value: Any = None
    reason: str | None = None
    user_set: bool = False


class NativeRequest(BaseModel):
    """One call a managed backend will make (for plans: what exactly is sent)."""

    method: str
    path: str
    body: Any = None
    description: str | None = None


class Plan(BaseModel):
    """What a backend would run or send for a Job, and what happens to every option."""

    backend: str
    kind: BackendKind
    model: str
    objective: str
    native: dict[str, Any] = Field(default_factory=dict)
    native_format: Literal["json", "yaml"] = "json"
    requests: list[NativeRequest] = Field(default_factory=list)
    rows: list[PlanRow] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    @property
    def dropped(self) -> list[PlanRow]:
        """Options the user set that this backend cannot honour."""
        return [r for r in self.rows if r.status == "dropped" and r.user_set]

    def warnings(self) -> list[str]:
        """One message per option the user set that this backend drops (what submit warns)."""
        return [
            f"{r.option}={_short(r.value)} is ignored by {self.backend}: "
            f"{r.reason or 'not supported'} (set strict: true to make this an error)"
            for r in self.dropped
        ]

    def row(self, option: str) -> PlanRow:
        """The row for ``option`` (KeyError when the plan has none)."""
        for row in self.rows:
            if row.option == option:
                return row
        raise KeyError(option)

    def native_text(self) -> str:
        """The native request (JSON) or config (YAML) as text."""
        if self.native_format == "yaml":
            return yaml.safe_dump(self.native, sort_keys=False)
        return json.dumps(self.native, indent=2)

    def write_native(self, path: str | Path) -> Path:
        """Write ``native_text()`` to ``path`` and return the path."""
        target = Path(path)
        target.write_text(self.native_text(), encoding="utf-8")
        return target

    def render(self, width: int = 80) -> str:
        """A plain-text summary: native request, one line per option, then a legend. Lines wrap
        on words at ``width`` columns, continuation lines indented under the value column."""
        lines = _wrap(
            f"plan for backend {self.backend!r} ({self.kind}) — model {self.model}, "
            f"{self.objective}",
            width,
            "",
            "  ",
        )
        for request in self.requests:
            text = f"{request.method} {request.path}" + (
                f"  # {request.description}" if request.description else ""
            )
            lines += _wrap(text, width, "  ", "      ")
        lines.append("options:")
        column = max((len(r.option) for r in self.rows), default=10)
        for r in self.rows:
            target = f" -> {r.native}" if r.native else ""
            why = f"  ({r.reason})" if r.reason else ""
            mark = "*" if r.user_set else " "
            head = f" {mark}{r.option:<{column}} {r.status:<9} "
            indent = " " * min(len(head), max(width // 2, 8))
            shown = r.native_value if r.value is None and r.native_value is not None else r.value
            lines += _wrap(f"{_short(shown)}{target}{why}", width, head, indent)
        for note in self.notes:
            lines += _wrap(f"note: {note}", width, "", "  ")
        lines.append("")
        lines += _wrap(PLAN_LEGEND, width, "", "  ")
        return "\n".join(lines)


#: printed under every rendered plan table
PLAN_LEGEND = (
    "* = set in the job. mapped: sent to the backend as shown (-> its native name); "
    "defaulted: not set, so tunesdk's or the backend's default applies; dropped: this backend "
    "cannot honour it (when set: a warning at submit, an error with strict: true)."
)


def _wrap(text: str, width: int, first: str, rest: str) -> list[str]:
    """``text`` wrapped on words (long words such as paths stay whole) after ``first``."""
    return textwrap.wrap(
        text,
        width=max(width, len(first) + 20),
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
        drop_whitespace=True,
    ) or [first.rstrip()]


def _empty(value: Any) -> bool:
    """None, an empty list, False or 0: an option that, left unset, asks nothing of a backend."""
    return value in (None, [], False)


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:37] + "..."


# Every Job option a plan accounts for (method fields are added per method).
_JOB_OPTIONS = (
    "objective",
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
    "seed",
    "beta",
    "eval_data",
    "eval_split",
    "eval_steps",
    "n_checkpoints",
    "train_on_inputs",
    "packing",
    "chat_template",
    "suffix",
    "output_dir",
    "report_to",
    "wandb_project",
    "resources.processes",
    "resources.gpus",
    "resources.nodes",
    "resources.strategy",
    "resources.deepspeed_stage",
    "resources.mixed_precision",
)


def job_options(job: Job, objective: str) -> list[str]:
    """The option names a plan for ``job`` must account for."""
    names = [n for n in _JOB_OPTIONS if not (n == "beta" and objective != "dpo")]
    method_fields = [f"method.{f}" for f in type(job.method).model_fields if f != "kind"]
    index = names.index("method") + 1
    return names[:index] + method_fields + names[index:]


def option_value(job: Job, option: str) -> Any:
    """The value of a (possibly dotted) Job option; ``method`` gives the method kind."""
    if option == "method":
        return job.method.kind
    if option == "learning_rate":
        return job.effective_learning_rate
    node: Any = job
    for part in option.split("."):
        node = getattr(node, part)
    if isinstance(node, BaseModel):
        return node.model_dump(mode="json")
    return (
        node if isinstance(node, str | int | float | bool | list | dict | type(None)) else str(node)
    )


class PlanBuilder:
    """Collects a plan's rows; ``build()`` accounts for every option and applies strict mode.

    Options the backend neither mapped nor dropped explicitly are recorded as dropped with a generic
    reason, so a plan never silently ignores an option.
    """

    def __init__(self, job: Job, backend: str, kind: BackendKind, *, objective: str | None = None):
        self.job = job
        self.backend = backend
        self.kind = kind
        self.objective = objective or job.infer_objective()
        self.model = job.model_for(backend)
        self.native: dict[str, Any] = {}
        self.native_format: Literal["json", "yaml"] = "json"
        self.requests: list[NativeRequest] = []
        self.notes: list[str] = []
        self._rows: dict[str, PlanRow] = {}
        self._user_set = job.options_set()

    def _add(self, option: str, status: OptionStatus, **fields: Any) -> None:
        value = fields.pop("value", None)
        if value is None:
            value = option_value(self.job, option)
        if option == "objective" and value is None:
            value = self.objective  # inferred from the data: show what the plan uses
        user_set = self._is_user_set(option)
        if status == "dropped" and not user_set and _empty(value):
            # nobody set it and it holds nothing: the backend's own behaviour applies, nothing lost
            status = "defaulted"
        elif (
            status == "mapped"
            and not user_set
            and (value is None or fields.get("native_value") is None)
        ):
            status = "defaulted"  # left unset: a default (tunesdk's or the backend's) is what runs
        self._rows[option] = PlanRow(
            option=option,
            value=value,
            status=status,
            user_set=user_set,
            **fields,
        )

    def _is_user_set(self, option: str) -> bool:
        if option == "learning_rate":
            return "learning_rate" in self._user_set
        return option in self._user_set

    def mapped(
        self,
        option: str,
        native: str | None = None,
        native_value: Any = None,
        *,
        reason: str | None = None,
    ) -> None:
        """``option`` is honoured, as ``native`` = ``native_value`` (defaults to the option's value)."""
        value = option_value(self.job, option)
        self._add(
            option,
            "mapped" if self._is_user_set(option) or native is not None else "defaulted",
            native=native,
            native_value=value if native_value is None else native_value,
            reason=reason,
        )

    def defaulted(
        self, option: str, reason: str, *, native: str | None = None, native_value: Any = None
    ) -> None:
        """``option`` is left to the backend's own default (which ``reason`` states)."""
        self._add(option, "defaulted", native=native, native_value=native_value, reason=reason)

    def dropped(self, option: str, reason: str) -> None:
        """``option`` cannot be honoured by this backend."""
        self._add(option, "dropped", reason=reason)

    def build(self) -> Plan:
        """The finished Plan (UnsupportedOption in strict mode for dropped user-set options)."""
        for option in job_options(self.job, self.objective):
            if option not in self._rows:
                if not self._is_user_set(option) and _empty(option_value(self.job, option)):
                    self._add(option, "defaulted", reason="not set")
                else:
                    self._add(option, "dropped", reason=f"{self.backend} has no equivalent")
        for key, value in self.job.backend_options.get(self.backend, {}).items():
            self._rows[f"backend_options.{key}"] = PlanRow(
                option=f"backend_options.{key}",
                value=redact(key, value),
                status="mapped",
                native=key,
                native_value=redact(key, value),
                reason="passed through unchanged",
                user_set=True,
            )
        plan = Plan(
            backend=self.backend,
            kind=self.kind,
            model=self.model,
            objective=self.objective,
            # plans are shown, stored in the run folder and exported: never with a credential
            native=redact_tree(self.native),
            native_format=self.native_format,
            requests=[
                r.model_copy(update={"body": redact_tree(r.body)}) if r.body else r
                for r in self.requests
            ],
            rows=list(self._rows.values()),
            notes=self.notes,
        )
        if self.job.strict and plan.dropped:
            raise UnsupportedOption(
                self.backend, {r.option: r.reason or "not supported" for r in plan.dropped}
            )
        return plan


_METHOD_NAMES = {
    "full": "full fine-tuning",
    "lora": "LoRA",
    "qlora": "QLoRA",
    "prefix": "prefix tuning",
    "adapter": "bottleneck adapters",
}


def check_capabilities(backend: Backend, job: Job) -> None:
    """JobError, before anything is planned or spent, when ``backend``'s `Capabilities` lack the
    job's method or (given or inferred) objective; the reason is the backend's own wording from
    ``capabilities.unsupported`` where it has one."""
    caps = backend.capabilities
    method = job.method.kind
    if method not in caps.methods:
        offered = ", ".join(m for m in _METHOD_NAMES if m in caps.methods) or "none"
        others = (
            "`method: lora`" if "lora" in caps.methods else f"`method: {offered.split(',')[0]}`"
        )
        reason = caps.unsupported.get(method) or (
            f"{backend.name} cannot train {_METHOD_NAMES.get(method, method)} "
            f"(it trains: {offered})"
        )
        raise JobError(
            reason,
            where="job.method",
            fix=f"use {others} on {backend.name}, or a backend that trains "
            f"{_METHOD_NAMES.get(method, method)} (see `tunesdk backends`)",
        )
    objective = job.objective
    if objective is None and not {"sft", "dpo"} <= caps.objectives:
        objective = job.infer_objective()  # reads the data only for a backend that lacks one
    if objective is not None and objective not in caps.objectives:
        offered = ", ".join(sorted(caps.objectives)) or "none"
        reason = caps.unsupported.get(objective) or (
            f"{backend.name} cannot train objective {objective!r} (it trains: {offered})"
        )
        raise JobError(
            reason,
            where="job.objective",
            fix=f"use a backend that trains {objective} (see `tunesdk backends`), or data and "
            f"an objective {backend.name} trains ({offered})",
        )


def plan_checked(backend: Backend, job: Job) -> Plan:
    """``backend.plan(job)`` after the core's capability check (`check_capabilities`): what
    ``job.plan()`` and ``submit`` both use."""
    check_capabilities(backend, job)
    return backend.plan(job)


def warn_dropped(plan: Plan, log: Callable[..., Any] | None = None) -> list[str]:
    """Warn once per option the user set that ``plan``'s backend drops: ``warnings.warn``
    (`UnsupportedOptionWarning`) and, given the run's ``log``, a warning ``Log`` event."""
    messages = plan.warnings()
    for message in messages:
        if log is not None:
            log(message, level="warning")
        warnings.warn(message, UnsupportedOptionWarning, stacklevel=3)
    return messages


# the old private name (tunesdk.secrets is the public home), for code that imported it
_redact = redact


#: warnings of the last validate_job_data per job object, until Run.submit takes them
_data_warnings: dict[int, tuple[Job, list[str]]] = {}


def take_data_warnings(job: Job) -> list[str]:
    """The data warnings ``validate_job_data`` found for this job object (once)."""
    found = _data_warnings.pop(id(job), None)
    return found[1] if found is not None and found[0] is job else []


def validate_job_data(job: Job, backend: str, *, rules: str | None = None) -> None:
    """Validate the job's train and eval data (``rules``: which backend's data rules, default the
    generic ones) and raise DataError listing every problem, before anything is uploaded or
    started. Every backend's ``preflight`` calls this. Both halves of an ``eval_split`` must hold
    the backend's minimum; duplicates and train/eval overlap are warnings, which ``Run.submit``
    logs on the run (``take_data_warnings``)."""
    from tunesdk.data.preflight import check_training_data

    checked = check_training_data(
        job.data,
        eval_data=job.eval_data,
        eval_split=job.eval_split,
        seed=job.seed,
        backend=rules,
        max_seq_length=job.max_seq_length,
        objective=job.objective,
    )
    while len(_data_warnings) >= 32:  # jobs validated but never submitted
        _data_warnings.pop(next(iter(_data_warnings)))
    _data_warnings[id(job)] = (job, checked.warnings)
    for role, report in checked.reports.items():
        if not report.ok:
            raise DataError(
                f"{role} is not valid for {backend}:\n{report.render()}",
                report=report,
                where=f"job.{role}",
                fix="fix the lines listed above, then submit again "
                "(nothing was uploaded or started)",
            )


class Backend:
    """Base class of every backend. Subclasses set ``name``, ``kind`` and ``capabilities``."""

    name: ClassVar[str]
    kind: ClassVar[BackendKind]
    capabilities: ClassVar[Capabilities] = Capabilities()
    #: (first, longest) seconds between polls while a run is live
    poll_interval: ClassVar[tuple[float, float]] = (0.2, 1.0)

    def check(self) -> Check:
        """Whether this backend can run here; must be cheap and must not import heavy packages
        unless they are needed to answer."""
        return Check(usable=True)

    def check_job(self, job: Job) -> Check:
        """Whether this job can run here (credentials may come from the job's backend_options)."""
        return self.check()

    def plan(self, job: Job) -> Plan:
        """The native request/config and one row per option. Pure: no upload, GPU or network."""
        raise NotImplementedError

    def preflight(self, job: Job, plan: Plan) -> None:
        """Checks that may read local files (the data) but spend nothing; raise on problems."""

    def export(self, job: Job, folder: Path) -> Path:
        """Write what the engine needs to run ``job`` without tunesdk (config and converted data)
        under ``folder``; return the file to hand the engine. Config-driven engines implement it."""
        raise TuneError(
            f"backend {self.name!r} has no runnable export",
            fix="write its native request with `tunesdk plan JOB -b BACKEND -o FILE`",
        )

    def launch(self, run: RunRecord) -> None:
        """Start the run (spawn the worker, or upload and create the remote job)."""
        raise NotImplementedError

    def poll(self, run: RunRecord) -> list[Event]:
        """New events since the last poll (those the backend does not emit itself)."""
        return []

    def cancel(self, run: RunRecord) -> None:
        """Ask the run to stop; the terminal Cancelled event follows through poll or the worker."""
        raise NotImplementedError

    def train(self, run: RunRecord) -> ModelHandle:
        """Local backends: train in the worker process and return the model handle."""
        raise TuneError(f"backend {self.name!r} does not train locally")

    # ---- operations on the models this backend produces ---------------------------------------

    def chat(self, model: ModelHandle, messages: Messages, **generation: Any) -> str:
        """Answer ``messages`` with a model this backend trained or serves."""
        raise self._unsupported("chat()")

    def generate(self, model: ModelHandle, prompt: str, **generation: Any) -> str:
        """Complete a plain ``prompt`` with the model."""
        raise self._unsupported("generate()")

    def load(self, model: LocalModel) -> tuple[Any, Any]:
        """Load a local model as (transformers model, tokenizer)."""
        raise self._unsupported("load()")

    def merge(self, model: LocalModel, path: Path) -> LocalModel:
        """Merge an adapter into its base model and save the result at ``path``."""
        raise self._unsupported("merge()")

    def export_gguf(self, model: LocalModel, path: Path, quantization: str) -> list[Path]:
        """Write a local model as GGUF files under ``path`` and return them."""
        raise TuneError(
            f"GGUF export is not available from backend {self.name!r}",
            fix='use model.export_gguf(path, engine="unsloth") on a GPU machine with '
            "`pip install 'tunesdk-unsloth[gpu]'`, or merge() and convert the merged folder with "
            "llama.cpp's convert_hf_to_gguf.py",
        )

    def download(self, model: ProviderModel, path: Path) -> LocalModel:
        """Download a provider model's weights to ``path`` as a LocalModel."""
        raise self._unsupported("download()")

    def deploy(self, model: ProviderModel, **options: Any) -> ProviderModel:
        """Make a provider model servable (a dedicated endpoint, where the provider needs one)."""
        raise self._unsupported("deploy()")

    def _unsupported(self, what: str) -> TuneError:
        return TuneError(
            f"{what} is not available for models of backend {self.name!r}",
            fix="see the backend's documentation for what its models support",
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} ({self.kind})>"


__all__ = [
    "Backend",
    "BackendKind",
    "Capabilities",
    "Check",
    "NativeRequest",
    "Plan",
    "PlanBuilder",
    "PlanRow",
    "job_options",
    "option_value",
]
