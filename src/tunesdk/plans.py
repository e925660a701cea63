"""Plans: what a backend would run or send for a Job, and the fate of every option.

`Plan` (with its `PlanRow` per option and `NativeRequest` per call) is the data ``job.plan()``
returns, ``tunesdk plan`` prints and the run folder keeps as ``plan.json``. Backends build one
with `PlanBuilder`, which accounts for every option of the catalogue (`tunesdk.options`) and
applies strict mode.
"""

from __future__ import annotations

import json
import textwrap
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, Field

from tunesdk.errors import UnsupportedOption, UnsupportedOptionWarning
from tunesdk.options import LAUNCHER_OPTIONS, job_options, option_value
from tunesdk.secrets import redact, redact_tree

if TYPE_CHECKING:
    from tunesdk.job import Job

BackendKind = Literal["local", "managed"]
OptionStatus = Literal["mapped", "defaulted", "dropped"]


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
    #: where the worker runs (`tunesdk.launchers`) and what that launcher would submit
    launcher: str = "local"
    launcher_native: dict[str, Any] = Field(default_factory=dict)
    launcher_format: Literal["json", "yaml"] = "json"

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

    def launcher_text(self) -> str:
        """The launcher's native request (a Ray job submission, a SkyPilot task) as text;
        ``""`` for the local launcher, which submits nothing."""
        if not self.launcher_native:
            return ""
        if self.launcher_format == "yaml":
            return yaml.safe_dump(self.launcher_native, sort_keys=False)
        return json.dumps(self.launcher_native, indent=2)

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
        if self.launcher != "local":
            line = f"launcher: {self.launcher} (its request is shown above)"
            lines += _wrap(line, width, "", "  ")
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
        self,
        option: str,
        reason: str,
        *,
        native: str | None = None,
        native_value: Any = None,
        value: Any = None,
    ) -> None:
        """``option`` is left to the backend's own default (which ``reason`` states); ``value``
        shows what runs when it differs from the Job field's own default."""
        fields = {"native": native, "native_value": native_value, "reason": reason}
        self._add(option, "defaulted", value=value, **fields)

    def dropped(self, option: str, reason: str) -> None:
        """``option`` cannot be honoured by this backend."""
        self._add(option, "dropped", reason=reason)

    def build(self) -> Plan:
        """The finished Plan (UnsupportedOption in strict mode for dropped user-set options)."""
        for option in job_options(self.job, self.objective):
            if option in LAUNCHER_OPTIONS:
                continue  # the launcher's rows (tunesdk.launchers.base.apply_launcher)
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


def warn_dropped(plan: Plan, log: Callable[..., Any] | None = None) -> list[str]:
    """Warn once per option the user set that ``plan``'s backend drops: ``warnings.warn``
    (`UnsupportedOptionWarning`) and, given the run's ``log``, a warning ``Log`` event."""
    messages = plan.warnings()
    for message in messages:
        if log is not None:
            log(message, level="warning")
        warnings.warn(message, UnsupportedOptionWarning, stacklevel=3)
    return messages


__all__ = [
    "PLAN_LEGEND",
    "BackendKind",
    "NativeRequest",
    "OptionStatus",
    "Plan",
    "PlanBuilder",
    "PlanRow",
    "warn_dropped",
]
