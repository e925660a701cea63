"""What `tunesdk run` and `job.run()` show while a run goes: a bar on a terminal, occasional lines
elsewhere, rounded numbers, checkpoints with step and path, a short summary; logs for services."""

from __future__ import annotations

import logging
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console

import tunesdk as ts
from tunesdk.progress import ProgressDisplay, ProgressLines, event_line, progress_text

TUNESDK = Path(sys.executable).with_name("tunesdk")


def progress(step: int, total: int | None = 200, **fields: object) -> ts.Progress:
    return ts.Progress(step=step, total_steps=total, **fields)  # type: ignore[arg-type]


# ---- lines off a terminal ---------------------------------------------------------------------


def test_lines_come_every_5_percent_not_every_step() -> None:
    lines: list[str] = []
    reporter = ProgressLines(lambda line, level: lines.append(line), clock=lambda: 0.0)
    for step in range(1, 201):
        reporter.update(progress(step, train_loss=1.0 + 1 / step))
    steps = [line for line in lines if line.startswith("step ")]
    assert len(steps) == 21  # the first, every 5 % (10 steps), the last
    assert steps[0].startswith("step 1/200 (0%)")
    assert steps[1].startswith("step 10/200 (5%)")
    assert steps[-1].startswith("step 200/200 (100%)")


def test_a_slow_run_still_gets_a_line_each_minute() -> None:
    lines: list[str] = []
    now = [0.0]
    reporter = ProgressLines(lambda line, level: lines.append(line), clock=lambda: now[0])
    for step in range(1, 11):  # 10 of 10,000 steps (0.1 %), 30 s apart
        now[0] = step * 30.0
        reporter.update(progress(step, total=10_000))
    assert [line.split()[1] for line in lines] == [
        "1/10000",
        "3/10000",
        "5/10000",
        "7/10000",
        "9/10000",
    ]


def test_the_last_step_is_shown_when_the_run_ends_between_lines() -> None:
    lines: list[str] = []
    reporter = ProgressLines(lambda line, level: lines.append(line), clock=lambda: 0.0)
    for step in range(1, 8):
        reporter.update(progress(step))
    reporter.update(ts.Cancelled())
    assert lines[-2].startswith("step 7/200") and lines[-1] == "cancelled"


def test_eta_comes_from_the_pace_when_the_backend_gives_none() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    lines: list[str] = []
    reporter = ProgressLines(lambda line, level: lines.append(line), clock=lambda: 0.0)
    for step in (1, 11):  # 10 steps in 100 s: 189 steps to go ~ 31m30s
        event = progress(step).model_copy(update={"time": start + timedelta(seconds=10 * step)})
        reporter.update(event)
    assert lines[-1].endswith("eta 31m30s")


def test_event_lines_round_and_say_where_checkpoints_are() -> None:
    assert event_line(ts.Evaluation(step=16, eval_loss=1.234567891)) == (
        "eval at step 16: eval_loss 1.2346"
    )
    assert event_line(ts.Checkpoint(step=40, path="/runs/x/checkpoint-40")) == (
        "checkpoint at step 40: /runs/x/checkpoint-40"
    )
    assert event_line(ts.Checkpoint(step=100, provider_id="accounts/a/models/m")) == (
        "checkpoint at step 100: accounts/a/models/m"
    )
    line = progress_text(progress(37, total=100, train_loss=0.123456789, learning_rate=2e-4))
    assert line == "step 37/100 (37%) loss 0.1235 lr 2.00e-04"


def test_eval_lines_show_metrics_not_the_eval_loops_speed() -> None:
    metrics = {
        "mean_token_accuracy": 0.375,
        "num_tokens": 2008.0,
        "runtime": 0.0272,
        "samples_per_second": 220.65,
        "steps_per_second": 36.775,
    }
    assert event_line(ts.Evaluation(step=8, eval_loss=5.28731, metrics=metrics)) == (
        "eval at step 8: eval_loss 5.2873 mean_token_accuracy 0.3750 num_tokens 2008"
    )


def test_fireworks_percent_progress_reads_as_a_percent() -> None:
    from tunesdk_fireworks.normalize import job_events

    events = job_events({"state": "JOB_STATE_RUNNING", "jobProgress": {"percent": 37}}, "acct")
    (event,) = events
    assert isinstance(event, ts.Progress) and event.percent == 37
    assert event.step == 37 and event.total_steps == 100  # step readers keep working
    assert progress_text(event) == "37%"
    assert "step" not in event_line(event)


def test_the_bar_shows_percent_for_percent_progress() -> None:
    buffer = StringIO()
    console = Console(file=buffer, force_terminal=True, width=120)
    with ProgressDisplay("run-1", console=console) as display:
        display.update(ts.Progress(step=37, total_steps=100, percent=37))
    assert "37%" in buffer.getvalue() and "37/100" not in buffer.getvalue()


# ---- tunesdk run ------------------------------------------------------------------------------


def test_run_piped_prints_a_few_lines_and_a_summary(job_yaml: Callable[..., Path]) -> None:
    job = job_yaml(steps=100, eval_split=0.25)
    proc = subprocess.run(
        [str(TUNESDK), "run", str(job), "-b", "simulated"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    step_lines = [line for line in lines if line.startswith("step ")]
    assert 20 <= len(step_lines) <= 22, step_lines  # not one per step (100)
    evals = [line for line in lines if line.startswith("eval at step")]
    assert evals and all(len(line.split("eval_loss ")[1]) == 6 for line in evals)  # 4 decimals
    checkpoint = next(line for line in lines if line.startswith("checkpoint at step"))
    assert "/outputs/checkpoint-" in checkpoint
    run_id = proc.stderr.split()[1]
    assert lines[-2].startswith(f"completed run {run_id} in ")
    assert "100 steps" in lines[-2] and "train loss " in lines[-2] and "eval loss " in lines[-2]
    assert lines[-1].startswith("model: local:")
    assert "{" not in proc.stdout  # no raw JSON metrics blob


def test_run_on_a_terminal_shows_the_progress_bar(job_yaml: Callable[..., Path]) -> None:
    job = job_yaml(steps=20, step_seconds=0.05, eval_split=0.25)
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm"}
    proc = subprocess.Popen(
        [str(TUNESDK), "run", str(job), "-b", "simulated"],
        stdout=follower,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        elif proc.poll() is not None:
            break
    proc.wait(timeout=30)
    os.close(leader)
    screen = b"".join(chunks).decode("utf-8", errors="replace")
    assert proc.returncode == 0
    assert "━" in screen  # rich's bar
    assert "20/20" in screen and "eta" in screen
    assert "step 1/20" not in screen  # no line per step
    assert "completed run " in screen and "model: local:" in screen


def test_json_stays_one_event_per_line(job_yaml: Callable[..., Path]) -> None:
    job = job_yaml(steps=30, eval_split=0.25)
    proc = subprocess.run(
        [str(TUNESDK), "run", str(job), "-b", "simulated", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    events = [ts.parse_event(line) for line in proc.stdout.splitlines()]
    assert len([e for e in events if isinstance(e, ts.Progress)]) == 30
    assert isinstance(events[-1], ts.Completed)


# ---- job.run() in a service -------------------------------------------------------------------


def test_job_run_off_a_terminal_logs_progress(
    make_job, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    job = make_job(max_steps=40, backend_options={"simulated": {"step_seconds": 0.001}})
    with caplog.at_level(logging.INFO, logger="tunesdk"):
        result = job.run(backend="simulated")
    records = [r for r in caplog.records if r.name == "tunesdk"]
    messages = [r.getMessage() for r in records]
    assert any(m.startswith(f"run {result.run_id}: step 40/40 (100%)") for m in messages)
    assert 3 <= len([m for m in messages if ": step " in m]) <= 22
    assert any("completed: model local:" in m for m in messages)
    captured = capsys.readouterr()
    assert "step " not in captured.out + captured.err  # logging, not prints


def test_job_run_logs_warnings_at_warning_level(make_job, caplog: pytest.LogCaptureFixture) -> None:
    job = make_job(max_steps=3, backend_options={"simulated": {"step_seconds": 0.001}})
    run = ts.Run.submit(job, "simulated")
    run.record.log("disk almost full", level="warning")
    from tunesdk.progress import log_lines

    reporter = log_lines(run.run_id)
    with caplog.at_level(logging.INFO, logger="tunesdk"):
        run.wait(on_event=reporter.update)
    levels = {r.getMessage().split(": ", 1)[1]: r.levelno for r in caplog.records}
    assert levels["warning: disk almost full"] == logging.WARNING
