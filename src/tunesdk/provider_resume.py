"""Resuming a managed run: a new provider job that starts from the old job's last checkpoint.

A provider keeps its checkpoints on its side (a Checkpoint event's ``provider_id``), and none
continues a failed or cancelled job in place. What they offer is a new job whose weights start
from a checkpoint: Together's ``from_checkpoint`` (``JOB_ID:STEP``), OpenAI's fine-tuning of a
fine-tuned model (a checkpoint is one, ``ft:...:ckpt-step-N``). The backend says how
(``ManagedBackend.resume_job``); this module finds the checkpoint, trims the job to the training
that is left (the epochs the checkpoint had not finished, or the steps left of ``max_steps``) and
says, when resuming cannot work, why and what to run instead. A *paused* job (OpenAI pauses
jobs) is different: the provider goes on with it in place (`unpause`), and the run is the same.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from tunesdk.errors import TuneError
from tunesdk.events import Checkpoint, Progress

if TYPE_CHECKING:
    from tunesdk.backend import Backend
    from tunesdk.job import Job
    from tunesdk.run import Run
    from tunesdk.store import RunRecord


def resume_on_provider(
    job: Job, backend: Backend, candidates: list[RunRecord], resume: bool | str
) -> tuple[Job, str]:
    """The job to submit for resuming on ``backend`` and the line the new run logs about it.

    ``candidates``: the runs to resume, newest first (one when a run id was given). Raises
    TuneError (what, why, the fix) when none saved a checkpoint on the provider, when the
    provider cannot start a job from one, or when the checkpoint ends the training."""
    found = next(
        ((record, point) for record in candidates if (point := _last_provider_checkpoint(record))),
        None,
    )
    rerun = _rerun_fix(candidates[0] if candidates else None, backend.name)
    if found is None:
        which = f"run {candidates[0].run_id}" if len(candidates) == 1 else "no earlier run"
        raise TuneError(
            f"{which} of this job saved no checkpoint on {backend.name}: there is nothing to "
            "resume from (a provider job that failed before its first checkpoint, or a provider "
            "that reports none for a failed job)",
            where=f"resume={resume!r}",
            fix=rerun,
        )
    record, checkpoint = found
    left = _training_left(job, record, checkpoint)
    if left is None:
        raise TuneError(
            f"run {record.run_id}'s last checkpoint (step {checkpoint.step}) is the end of its "
            "training: nothing is left to resume",
            where=f"resume={resume!r}",
            fix=rerun,
        )
    overrides, amount = left
    hook = getattr(backend, "resume_job", None)
    resumed = hook(job.with_overrides(overrides), checkpoint) if hook is not None else None
    if resumed is None:
        raise TuneError(
            f"{backend.name} cannot start a new job from an earlier job's checkpoint, and it "
            "does not continue a stopped job in place",
            where=f"resume={resume!r}",
            fix=rerun,
        )
    note = (
        f"resuming run {record.run_id} on {backend.name}: a new job starts from its checkpoint "
        f"{checkpoint.provider_id} (step {checkpoint.step}) and trains the {amount} left; "
        "the learning-rate schedule (warmup included) starts again"
    )
    return resumed, note


def unpause(run: Run) -> bool:
    """When ``run``'s provider job is paused (its last status change says ``paused``), ask the
    provider to go on with that same job and log it; False when the run is not paused."""
    from tunesdk.events import StatusChanged

    changes = [e for e in run.record.events(strict=False) if isinstance(e, StatusChanged)]
    if not changes or changes[-1].provider_status != "paused":
        return False
    hook = getattr(run.backend, "unpause", None)
    if hook is None or not hook(run.record):
        return False
    run.record.log(f"asked {run.record.backend} to go on with the paused job (tunesdk resume)")
    return True


def _last_provider_checkpoint(record: RunRecord) -> Checkpoint | None:
    points = [e for e in record.events(strict=False) if isinstance(e, Checkpoint) and e.provider_id]
    return points[-1] if points else None


def _training_left(
    job: Job, record: RunRecord, checkpoint: Checkpoint
) -> tuple[dict[str, Any], str] | None:
    """Overrides for the training left after ``checkpoint`` and how to say it; None: none left."""
    if job.max_steps is not None:
        steps = job.max_steps - checkpoint.step
        return ({"max_steps": steps}, f"{steps} step(s)") if steps > 0 else None
    done = _epochs_done(job, record, checkpoint.step)
    epochs = job.epochs - done
    return ({"epochs": epochs}, f"{epochs} epoch(s)") if epochs > 0 else None


def _epochs_done(job: Job, record: RunRecord, step: int) -> int:
    """Whole epochs finished at ``step``, from the run's progress (0 when it does not say)."""
    progress = [e for e in record.events(strict=False) if isinstance(e, Progress)]
    at = [p for p in progress if p.step <= step]
    epoch: float | None = at[-1].epoch if at and at[-1].step == step else None
    total = next((p.total_steps for p in reversed(progress) if p.total_steps), None)
    if epoch is None and total:
        epoch = step * job.epochs / total
    if epoch is None:
        return 0
    return math.floor(epoch + 1e-6)  # an epoch's last step may report 0.9999...


def _rerun_fix(record: RunRecord | None, backend: str) -> str:
    job_file = f"{record.dir}/job.json" if record is not None else "JOB_FILE"
    return f"run the job again from the start: tunesdk run {job_file} --backend {backend}"


__all__ = ["resume_on_provider", "unpause"]
