"""OpenAI event and checkpoint objects (the SDK's own types) become tunesdk events."""

from __future__ import annotations

from openai.types.fine_tuning import FineTuningJobEvent
from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint

from tunesdk.events import Checkpoint, Evaluation, Log, Progress
from tunesdk_openai.normalize import checkpoint_event, job_event, merge_by_step


def _event(**fields):
    base = {"id": "ftevent-1", "object": "fine_tuning.job.event", "created_at": 0, "level": "info"}
    return FineTuningJobEvent(**(base | fields))


def test_metrics_event_becomes_progress_with_epoch():
    event = _event(
        type="metrics",
        message="Step 3/12: training loss=1.10",
        data={"step": 3, "total_steps": 12, "train_loss": 1.1, "train_mean_token_accuracy": 0.6},
    )
    [progress] = job_event(event, n_epochs=4)
    assert progress == Progress(
        step=3,
        total_steps=12,
        epoch=1.0,
        train_loss=1.1,
        source_id="event:ftevent-1",
        time=progress.time,
    )


def test_validation_metrics_add_an_evaluation_preferring_the_full_pass():
    data = {
        "step": 6,
        "total_steps": 12,
        "train_loss": 0.9,
        "valid_loss": 1.3,
        "full_valid_loss": 1.0,
    }
    progress, evaluation = job_event(_event(type="metrics", message="", data=data), n_epochs=None)
    assert isinstance(progress, Progress) and progress.epoch is None
    assert isinstance(evaluation, Evaluation)
    assert evaluation.eval_loss == 1.0
    assert evaluation.metrics == {"valid_loss": 1.3, "full_valid_loss": 1.0}
    assert evaluation.source_id == "event:ftevent-1:eval"


def test_message_events_become_logs_at_their_level():
    [log] = job_event(_event(type="message", level="warn", message="Slow queue"), n_epochs=3)
    assert isinstance(log, Log)
    assert (log.level, log.message, log.source_id) == ("warning", "Slow queue", "event:ftevent-1")


def test_checkpoint_carries_the_model_to_chat_with():
    checkpoint = FineTuningJobCheckpoint(
        id="ftckpt_1",
        object="fine_tuning.job.checkpoint",
        created_at=0,
        fine_tuned_model_checkpoint="ft:gpt-4o-mini-2024-07-18:org::abc:ckpt-step-4",
        fine_tuning_job_id="ftjob-1",
        metrics={"step": 4},
        step_number=4,
    )
    event = checkpoint_event(checkpoint)
    assert (event.step, event.provider_id, event.source_id) == (
        4,
        "ft:gpt-4o-mini-2024-07-18:org::abc:ckpt-step-4",
        "ckpt:ftckpt_1",
    )


def test_checkpoints_are_placed_after_the_progress_of_their_step():
    steps = [Progress(step=s) for s in range(1, 7)]
    merged = merge_by_step(steps, [Checkpoint(step=6), Checkpoint(step=2), Checkpoint(step=4)])
    order = [(type(e).__name__[0], e.step) for e in merged]
    assert order == [
        ("P", 1), ("P", 2), ("C", 2), ("P", 3), ("P", 4), ("C", 4), ("P", 5), ("P", 6), ("C", 6),
    ]  # fmt: skip
