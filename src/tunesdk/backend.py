"""The Backend plugin interface: what every engine or provider implements.

A backend package subclasses `Backend` (local engines usually subclass
`tunesdk.local.LocalBackend`, providers `tunesdk.managed.ManagedBackend`) and registers it
under the ``tunesdk.backends`` entry-point group::

    [project.entry-points."tunesdk.backends"]
    mybackend = "my_package:MyBackend"

The pieces a backend uses live in modules of their own and are importable from here too (the
names plugins have always imported): plans and `PlanBuilder` in `tunesdk.plans`, the option
catalogue in `tunesdk.options`, `Capabilities` in `tunesdk.capabilities`, the data gate in
`tunesdk.job_data` and redaction in `tunesdk.secrets`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, Field

from tunesdk.capabilities import Capabilities, check_capabilities
from tunesdk.errors import TuneError
from tunesdk.job_data import take_data_warnings, validate_job_data
from tunesdk.options import job_options, option_value
from tunesdk.plans import (
    PLAN_LEGEND,
    BackendKind,
    NativeRequest,
    OptionStatus,
    Plan,
    PlanBuilder,
    PlanRow,
    warn_dropped,
)
from tunesdk.secrets import SECRET_WORDS, redact, redact_tree

if TYPE_CHECKING:
    from tunesdk.events import Event
    from tunesdk.job import Job
    from tunesdk.models import LocalModel, Messages, ModelHandle, ProviderModel
    from tunesdk.store import RunRecord


class Check(BaseModel):
    """Whether a backend can run on this machine now and, if not, the exact fix."""

    usable: bool
    reason: str | None = None
    fix: str | None = None
    versions: dict[str, str] = Field(default_factory=dict)


def plan_checked(backend: Backend, job: Job) -> Plan:
    """``backend.plan(job)`` after the core's capability check (`check_capabilities`), with the
    launcher's rows and native request (`tunesdk.launchers`): what ``job.plan()`` and
    ``submit`` both use."""
    check_capabilities(backend, job)
    from tunesdk.launchers.base import apply_launcher

    return apply_launcher(job, backend.plan(job), local_backend=backend.kind == "local")


# the old private name (tunesdk.secrets is the public home), for code that imported it
_redact = redact


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

    def pause(self, run: RunRecord) -> None:
        """Ask the provider to pause ``run``'s job, which stays live (``capabilities.pause``);
        the base refuses, naming the backend."""
        raise TuneError(
            f"backend {self.name!r} cannot pause a run (its capabilities have no pause)",
            fix=f"cancel it instead (`tunesdk cancel {run.run_id}`); a backend with pause is openai",
        )

    def unpause(self, run: RunRecord) -> bool:
        """Ask the provider to go on with ``run``'s paused job; False (the base): no pause here."""
        return False

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
    "PLAN_LEGEND",
    "SECRET_WORDS",
    "Backend",
    "BackendKind",
    "Capabilities",
    "Check",
    "NativeRequest",
    "OptionStatus",
    "Plan",
    "PlanBuilder",
    "PlanRow",
    "check_capabilities",
    "job_options",
    "option_value",
    "plan_checked",
    "redact",
    "redact_tree",
    "take_data_warnings",
    "validate_job_data",
    "warn_dropped",
]
