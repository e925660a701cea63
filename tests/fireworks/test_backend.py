"""The backend's hooks against the emulator: uploads, exactly-once creation, faults, events."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunesdk.errors import JobError
from tunesdk.events import Completed, Failed, Progress, StatusChanged
from tunesdk.job import Job
from tunesdk.store import RunRecord
from tunesdk.testing import launch_run, poll_until_done
from tunesdk_fireworks.backend import FireworksBackend
from tunesdk_fireworks.emulator import FireworksEmulator

QWEN = "Qwen/Qwen2.5-7B-Instruct"
ACCOUNT = "acme"


def start(job: Job) -> tuple[FireworksBackend, RunRecord]:
    backend = FireworksBackend()
    return backend, launch_run(backend, job)


def finish(backend: FireworksBackend, run: RunRecord, timeout: float = 10.0) -> None:
    poll_until_done(backend, run, timeout=timeout, interval=0.01)


def requests(emulator: FireworksEmulator, method: str, contains: str) -> int:
    return sum(1 for r in emulator.faults.requests if r.method == method and contains in r.path)


def test_create_sends_exactly_the_planned_body(
    fireworks_env: FireworksEmulator, tmp_path: Path, samples
) -> None:
    data = samples.write(tmp_path / "train.jsonl", samples.chat(8))
    job = Job(model=QWEN, data=str(data), epochs=2, batch_size=4, suffix="bot")
    _, run = start(job)
    planned = run.plan.native
    received = next(iter(fireworks_env.state.jobs.values())).body
    expected = {
        key: value.replace("{run_id}", run.run_id) if isinstance(value, str) else value
        for key, value in planned.items()
    }
    assert received == expected
    assert run.state["remote_job_id"] == f"accounts/{ACCOUNT}/supervisedFineTuningJobs/{run.run_id}"
    assert "fw-test-key" not in (run.dir / "state.json").read_text()


def test_large_files_take_the_signed_url_path(
    fireworks_env: FireworksEmulator, tmp_path: Path, samples, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(FireworksBackend, "single_request_upload_limit", 64)
    data = samples.write(tmp_path / "train.jsonl", samples.chat(8))
    _, run = start(Job(model=QWEN, data=str(data)))
    assert requests(fireworks_env, "POST", ":getUploadEndpoint") == 1
    assert requests(fireworks_env, "PUT", "/_signed/datasets/") == 1
    assert requests(fireworks_env, "POST", ":validateUpload") == 1
    assert requests(fireworks_env, "POST", ":upload") == 0
    dataset = fireworks_env.state.dataset(ACCOUNT, f"{run.run_id}-train")
    assert dataset.state == "READY" and dataset.examples == 8


def test_an_upload_retried_after_a_lost_response_finishes_the_same_dataset(
    fireworks_env: FireworksEmulator, tmp_path: Path, samples
) -> None:
    data = samples.write(tmp_path / "train.jsonl", samples.chat(8))
    fireworks_env.faults.add(
        kind="commit_then_drop", method="POST", path="/v1/accounts/acme/datasets"
    )
    fireworks_env.faults.add(kind="drop", method="POST", path="/v1/accounts/acme/datasets/")
    fireworks_env.faults.add(
        kind="commit_then_drop", method="POST", path="/v1/accounts/acme/datasets/"
    )
    backend, run = start(Job(model=QWEN, data=str(data)))
    assert len(fireworks_env.state.datasets) == 1
    # dropped before it landed -> sent again; landed but the answer was lost -> not sent again
    assert requests(fireworks_env, "POST", ":upload") == 2
    assert run.state["file_ids"]["train"].endswith(f"{run.run_id}-train")
    finish(backend, run)
    assert run.status == "completed"


def test_every_injected_fault_is_survived_with_nothing_lost(
    fireworks_env: FireworksEmulator, tmp_path: Path, samples
) -> None:
    data = samples.write(tmp_path / "train.jsonl", samples.chat(8))
    faults = fireworks_env.faults
    faults.add(
        kind="status", status=429, times=3, retry_after=0.01, path="/v1/accounts/acme/datasets"
    )
    faults.add(
        kind="status", status=503, times=2, method="POST", path="/v1/accounts/acme/supervised"
    )
    faults.add(
        kind="status", status=500, times=2, method="GET", path="/v1/accounts/acme/supervised"
    )
    faults.add(kind="drop", times=1, method="GET", path="/v1/accounts/acme/supervised")
    faults.add(
        kind="delay", delay_s=0.2, times=2, method="GET", path="/v1/accounts/acme/supervised"
    )
    job = Job(model=QWEN, data=str(data), batch_size=1)
    backend, run = start(job)
    finish(backend, run, timeout=20)
    assert sum(1 for r in faults.requests if r.fault) == 10  # every fault was hit
    events = run.events()
    assert isinstance(events[-1], Completed)
    assert len(fireworks_env.state.jobs) == 1
    providers = [
        e.provider_status for e in events if isinstance(e, StatusChanged) and e.provider_status
    ]
    assert providers[-1] == "JOB_STATE_WRITING_RESULTS"
    assert len(providers) == len(set(providers))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    percents = [e.step for e in events if isinstance(e, Progress)]
    assert percents == sorted(set(percents)) and percents[-1] == 100


def test_slow_responses_time_out_and_are_retried(
    fireworks_env: FireworksEmulator, tmp_path: Path, samples
) -> None:
    data = samples.write(tmp_path / "train.jsonl", samples.chat(8))
    fireworks_env.faults.add(
        kind="delay", delay_s=1.0, method="GET", path="/v1/accounts/acme/supervised"
    )
    job = Job(model=QWEN, data=str(data), backend_options={"fireworks": {"timeout_s": 0.3}})
    backend, run = start(job)
    finish(backend, run)
    assert run.status == "completed"


def test_a_job_that_fails_mid_training_ends_failed(
    fireworks_env: FireworksEmulator, tmp_path: Path, samples
) -> None:
    fireworks_env.config.fail_at_step = 2
    data = samples.write(tmp_path / "train.jsonl", samples.chat(8))
    backend, run = start(Job(model=QWEN, data=str(data), batch_size=1))
    finish(backend, run)
    failed = run.events()[-1]
    assert isinstance(failed, Failed)
    assert "JOB_STATE_FAILED" in failed.error and "failed at step 2" in failed.error


def test_dpo_reports_loss_from_the_metrics_file_and_reattach_repeats_nothing(
    fireworks_env: FireworksEmulator, tmp_path: Path, samples
) -> None:
    data = samples.write(tmp_path / "prefs.jsonl", samples.dpo(6))
    backend, run = start(Job(model=QWEN, data=str(data), batch_size=2, epochs=2))
    for _ in range(3):
        backend.poll(run)
    # another process attaches: a fresh backend with no memory, same run folder
    other = FireworksBackend()
    finish(other, RunRecord(run.dir))
    losses = [(e.step, e.train_loss) for e in run.events() if isinstance(e, Progress)]
    assert [step for step, _ in losses] == [1, 2, 3, 4, 5, 6]
    assert all(loss is not None and loss > 0 for _, loss in losses)
    sources = [e.source_id for e in run.events() if e.source_id]
    assert len(sources) == len(set(sources))
    completed = run.events()[-1]
    assert isinstance(completed, Completed)
    assert completed.model.model_id == f"accounts/{ACCOUNT}/models/tunesdk-{run.run_id}"


def test_an_unknown_passed_through_model_is_refused_before_upload(
    fireworks_env: FireworksEmulator, tmp_path: Path, samples
) -> None:
    data = samples.write(tmp_path / "train.jsonl", samples.chat(8))
    backend = FireworksBackend()
    job = Job(model="accounts/acme/models/not-there", data=str(data))
    with pytest.raises(JobError, match="no model accounts/acme/models/not-there"):
        backend.preflight(job, backend.plan(job))
    assert fireworks_env.state.datasets == {}
    assert [r.path for r in fireworks_env.faults.requests] == ["/v1/accounts/acme/models/not-there"]
