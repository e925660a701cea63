"""A job's data: checked before anything is uploaded or started, the gate every backend's
``preflight`` passes through (`validate_job_data`); loaded as its train and eval sets where a
backend trains (`train_eval_datasets`). The checks themselves are
`tunesdk.data.preflight.check_training_data`, which knows nothing of jobs; this module turns
its reports into one `DataError` and keeps its warnings for ``Run.submit`` to log on the run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunesdk.errors import DataError

if TYPE_CHECKING:
    from tunesdk.data import Dataset
    from tunesdk.job import Job


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


def train_eval_datasets(job: Job) -> tuple[Dataset, Dataset | None]:
    """The training set and the eval set (``eval_data`` or a deterministic ``eval_split`` of the
    training data by ``job.seed``; None when the job has neither)."""
    from tunesdk.data import Dataset

    train = Dataset.load(job.data)
    if job.eval_data is not None:
        return train, Dataset.load(job.eval_data)
    if job.eval_split is not None:
        return train.split(job.eval_split, seed=job.seed)
    return train, None


__all__ = ["take_data_warnings", "train_eval_datasets", "validate_job_data"]
