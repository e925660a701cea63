"""The run → OpenAI object mapping on its own: statuses, events, checkpoints, hidden paths."""

from __future__ import annotations

from pathlib import Path

from tunesdk.events import Checkpoint, Evaluation, Log, Progress, StatusChanged
from tunesdk.serve.job_view import (
    STATUSES,
    _live,
    checkpoint_objects,
    event_object,
    hide_paths,
    results_csv,
)


def test_every_run_status_has_an_openai_status() -> None:
    from typing import get_args

    from tunesdk.events import RunStatus

    openai = {"validating_files", "queued", "running", "succeeded", "failed", "cancelled"}
    assert set(STATUSES) == set(get_args(RunStatus))
    assert set(STATUSES.values()) == openai


def test_a_provider_pause_reads_as_paused_and_an_eta_as_estimated_finish() -> None:
    paused = [StatusChanged(status="queued", provider_status="paused")]
    assert _live(paused, "queued") == ("paused", None)
    running = [StatusChanged(status="running"), Progress(step=3, total_steps=10, eta_s=70.0)]
    status, finish = _live(running, "running")
    assert status == "running" and finish == int(running[1].time.timestamp() + 70)


def test_events_map_levels_types_and_metrics() -> None:
    warning = event_object(Log(run_id="r", seq=4, level="warning", message="suffix dropped"))
    assert (warning["level"], warning["type"], warning["id"]) == ("warn", "message", "ftevent-r-4")
    step = event_object(Progress(run_id="r", seq=5, step=2, total_steps=4, train_loss=1.5))
    assert step["type"] == "metrics" and step["data"] == {
        "step": 2,
        "total_steps": 4,
        "train_loss": 1.5,
    }
    evaluation = event_object(Evaluation(run_id="r", seq=6, step=2, eval_loss=1.25))
    assert evaluation["data"] == {"step": 2, "valid_loss": 1.25}


def test_checkpoints_carry_the_metrics_at_their_step() -> None:
    events = [
        Progress(run_id="r", seq=1, step=1, train_loss=2.0),
        Evaluation(run_id="r", seq=2, step=1, eval_loss=1.9),
        Checkpoint(run_id="r", seq=3, step=1, path="/runs/r/outputs/checkpoints/checkpoint-1"),
        Progress(run_id="r", seq=4, step=2, train_loss=1.0),
        Checkpoint(run_id="r", seq=5, step=2, provider_id="ft-1:ckpt-2"),
    ]
    first, second = checkpoint_objects("r", "together", events)
    assert first["fine_tuned_model_checkpoint"] == "local:/runs/r/outputs/checkpoints/checkpoint-1"
    assert first["metrics"] == {"step": 1.0, "train_loss": 2.0, "valid_loss": 1.9}
    assert second["fine_tuned_model_checkpoint"] == "together:ft-1:ckpt-2"
    assert second["metrics"]["train_loss"] == 1.0 and second["step_number"] == 2
    assert results_csv(events).decode().splitlines() == [
        "step,train_loss,valid_loss,learning_rate",
        "1,2.0,1.9,",
        "2,1.0,1.9,",
    ]


def test_stored_file_paths_become_file_ids(tmp_path: Path) -> None:
    files = tmp_path / "serve" / "files"
    file_id = "file-" + "ab" * 12
    text = (
        f"{files}/{file_id}/content.jsonl: line 3 is not JSON; "
        f"{tmp_path}/serve/inputs/{file_id}.1a2b3c4d/content.jsonl: 2 duplicates"
    )
    assert hide_paths(text, files) == f"{file_id}: line 3 is not JSON; {file_id}: 2 duplicates"


def test_a_failed_run_reports_openais_error_object(tmp_path: Path) -> None:
    import tunesdk as ts
    from tunesdk.events import Failed
    from tunesdk.registry import get_backend
    from tunesdk.serve.job_view import Outcomes, job_object
    from tunesdk.store import RunStore

    job = ts.Job(model="m", data=[{"messages": [{"role": "user", "content": "a"}]}])
    record = RunStore(tmp_path / "home").create(
        job, get_backend("simulated").plan(job), "simulated"
    )
    files = tmp_path / "home" / "serve" / "files"
    file_id = "file-" + "cd" * 12
    record.emit(
        Failed(error=f"{files}/{file_id}/content.jsonl: line 2 is bad", error_type="DataError")
    )
    facts = {
        "model": "m",
        "created_at": 1,
        "training_file": file_id,
        "method": "supervised",
        "hyperparameters": {"n_epochs": 1, "batch_size": 8, "learning_rate_multiplier": 1.0},
        "seed": 42,
    }
    shown = job_object(record, facts, Outcomes(files), events=record.events())
    assert shown["status"] == "failed" and shown["fine_tuned_model"] is None
    assert shown["error"] == {
        "code": "DataError",
        "message": f"{file_id}: line 2 is bad",
        "param": None,
    }
    assert shown["finished_at"] is not None and shown["trained_tokens"] is None
