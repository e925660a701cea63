"""tunesdk: define an LLM fine-tuning job once, run it on any backend.

    import tunesdk as ts
    job = ts.Job(model="Qwen/Qwen2.5-0.5B-Instruct", data="train.jsonl", method=ts.LoRA(r=16))
    result = job.run(backend="trl")

Importing this package is light: no torch, transformers or provider SDK is imported.
"""

from typing import TYPE_CHECKING, Any

from tunesdk.backend import Backend, Capabilities, Check, Plan, PlanBuilder, PlanRow
from tunesdk.data import Dataset, decontaminate, mix
from tunesdk.errors import (
    AmbiguousRunId,
    AuthError,
    BackendUnavailable,
    DataError,
    InvalidRequest,
    JobError,
    ModelNotFound,
    ProviderError,
    QuotaExceeded,
    RateLimited,
    RunCancelled,
    RunDamaged,
    RunFailed,
    RunNotFound,
    RunStillRunning,
    TuneError,
    UnknownBackend,
    UnsupportedOption,
    UnsupportedOptionWarning,
)
from tunesdk.events import (
    Cancelled,
    Checkpoint,
    Completed,
    Evaluation,
    Event,
    Failed,
    Log,
    Progress,
    StatusChanged,
    parse_event,
)
from tunesdk.job import Job, ModelRef, Resources
from tunesdk.methods import Adapter, Full, LoRA, PrefixTuning, QLoRA
from tunesdk.models import LocalModel, ModelHandle, ProviderModel, load_model
from tunesdk.registry import BackendInfo, backends, get_backend, register_backend
from tunesdk.run import Result, Run

__version__ = "0.1.0"

if TYPE_CHECKING:
    from tunesdk import graders
    from tunesdk.estimation import Estimate
    from tunesdk.evaluation import (
        ComparisonReport,
        EvalReport,
        RegressionReport,
        compare,
        detect_overfitting,
        evaluate,
        plot_loss,
        regression,
    )

#: evaluation names, imported on first use (``tunesdk.evaluation``)
_EVALUATION = frozenset(
    {
        "ComparisonReport",
        "EvalReport",
        "RegressionReport",
        "compare",
        "detect_overfitting",
        "evaluate",
        "plot_loss",
        "regression",
    }
)


def __getattr__(name: str) -> Any:
    if name in _EVALUATION:
        from tunesdk import evaluation

        return getattr(evaluation, name)
    if name == "Estimate":
        from tunesdk.estimation import Estimate

        return Estimate
    if name == "graders":
        import tunesdk.graders

        return tunesdk.graders
    raise AttributeError(f"module 'tunesdk' has no attribute {name!r}")


__all__ = [
    "Adapter",
    "AmbiguousRunId",
    "AuthError",
    "Backend",
    "BackendInfo",
    "BackendUnavailable",
    "Cancelled",
    "Capabilities",
    "Check",
    "Checkpoint",
    "ComparisonReport",
    "Completed",
    "DataError",
    "Dataset",
    "Estimate",
    "EvalReport",
    "Evaluation",
    "Event",
    "Failed",
    "Full",
    "InvalidRequest",
    "Job",
    "JobError",
    "LoRA",
    "LocalModel",
    "Log",
    "ModelHandle",
    "ModelNotFound",
    "ModelRef",
    "Plan",
    "PlanBuilder",
    "PlanRow",
    "PrefixTuning",
    "Progress",
    "ProviderError",
    "ProviderModel",
    "QLoRA",
    "QuotaExceeded",
    "RateLimited",
    "RegressionReport",
    "Resources",
    "Result",
    "Run",
    "RunCancelled",
    "RunDamaged",
    "RunFailed",
    "RunNotFound",
    "RunStillRunning",
    "StatusChanged",
    "TuneError",
    "UnknownBackend",
    "UnsupportedOption",
    "UnsupportedOptionWarning",
    "backends",
    "compare",
    "decontaminate",
    "detect_overfitting",
    "evaluate",
    "get_backend",
    "graders",
    "load_model",
    "mix",
    "parse_event",
    "plot_loss",
    "register_backend",
    "regression",
]
