"""TogetherBackend's hooks in tunesdk.managed's flow: reconciliation, cursors, errors, faults."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tunesdk.errors import AuthError, DataError, JobError, ProviderError, QuotaExceeded, RateLimited
from tunesdk.events import Checkpoint, Completed, Progress, StatusChanged
from tunesdk.job import Job
from tunesdk.store import RunRecord, RunStore
from tunesdk.testing import launch_run, poll_until_done
from tunesdk_together.backend import TogetherBackend
from tunesdk_together.emulator import TogetherEmulator

pytestmark = pytest.mark.usefixtures("fast_retries")


def start(job: Job, backend: TogetherBackend | None = None) -> tuple[TogetherBackend, RunRecord]:
    backend = backend or TogetherBackend()
    return backend, launch_run(backend, job)


def finish(backend: TogetherBackend, run: RunRecord, timeout: float = 15.0) -> None:
    poll_until_done(backend, run, timeout=timeout)


def sft_job(train: Path, **fields: Any) -> Job:
    fields.setdefault("model", "meta-llama/Llama-3.1-8B-Instruct")
    fields.setdefault("epochs", 2)
    return Job(data=str(train), **fields)


def test_lost_create_answer_is_reconciled_not_repeated(
    together_env: TogetherEmulator, sft_file: Path
) -> None:
    together_env.fault(kind="commit_then_drop", method="POST", path="/v1/fine-tunes$")

    backend, run = start(sft_job(sft_file))

    jobs = together_env.state.list_jobs()
    assert len(jobs) == 1
    assert run.state["remote_job_id"] == jobs[0].id
    assert (
        together_env.faults.count("POST", "/v1/fine-tunes")
        - together_env.faults.count("POST", "/v1/fine-tunes/estimate-price")
        == 1
    )
    finish(backend, run)
    assert run.status == "completed"


def test_timed_out_create_is_found_by_its_suffix(
    together_env: TogetherEmulator, sft_file: Path
) -> None:
    together_env.fault(kind="delay", delay_s=1.0, method="POST", path="/v1/fine-tunes$")
    job = sft_job(sft_file, backend_options={"together": {"timeout": 0.3}})

    _, run = start(job)
    time.sleep(1.0)  # let the delayed create land

    jobs = together_env.state.list_jobs()
    assert len(jobs) == 1
    assert run.state["remote_job_id"] == jobs[0].id
    assert jobs[0].request["suffix"].endswith(run.run_id.removeprefix("together-"))


def test_polling_twice_and_reattaching_never_repeat_an_event(
    together_env: TogetherEmulator, data, sft_file: Path
) -> None:
    evals = data.write("eval.jsonl", data.chat(8))
    job = sft_job(sft_file, eval_data=str(evals), n_checkpoints=2)
    backend, run = start(job)
    time.sleep(0.15)
    backend.poll(run)
    backend.poll(run)

    # a new process: a fresh backend and a RunRecord read back from the run folder
    again = TogetherBackend()
    reread = RunRecord(run.dir)
    finish(again, reread)

    events = reread.events()
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    sources = [e.source_id for e in events if e.source_id]
    assert len(sources) == len(set(sources))
    steps = [e.step for e in events if isinstance(e, Progress)]
    assert steps == [1, 2, 3, 4]
    assert [e.step for e in events if isinstance(e, Checkpoint)] == [2]
    assert all(e.total_steps == 4 for e in events if isinstance(e, Progress))
    statuses = [
        e.provider_status for e in events if isinstance(e, StatusChanged) and e.provider_status
    ]
    assert statuses == ["pending", "queued", "running", "compressing", "uploading"] or statuses == [
        "pending",
        "running",
        "compressing",
        "uploading",
    ]
    assert isinstance(events[-1], Completed)


def test_transient_faults_while_polling_lose_nothing(
    together_env: TogetherEmulator, sft_file: Path
) -> None:
    backend, run = start(sft_job(sft_file))
    job = f"/v1/fine-tunes/{run.state['remote_job_id']}"
    together_env.fault(status=429, path=f"{job}/events", times=2, retry_after=0)
    together_env.fault(status=503, path=f"{job}/metrics", times=2)
    together_env.fault(kind="drop", path=f"{job}$", times=2)
    together_env.fault(status=500, path=f"{job}/events", times=1)

    finish(backend, run)

    assert run.status == "completed"
    assert [e.step for e in run.events() if isinstance(e, Progress)] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("status", "error", "fragment"),
    [
        (401, AuthError, "TOGETHER_API_KEY"),
        (402, QuotaExceeded, "billing"),
        (429, RateLimited, "retry"),
        (500, ProviderError, "server error"),
    ],
)
def test_provider_errors_carry_message_status_and_request_id(
    together_env: TogetherEmulator, status: int, error: type[ProviderError], fragment: str
) -> None:
    from together import Together

    backend = TogetherBackend()
    together_env.fault(status=status, path="/v1/files", message="emulated refusal")
    with pytest.raises(Exception) as raw:
        Together(base_url=together_env.base_url, api_key="k", max_retries=0).files.list()

    mapped = backend.map_error(raw.value)

    assert mapped is not None and type(mapped) is error
    assert mapped.status == status and mapped.message == "emulated refusal"
    assert mapped.request_id == "req_emulated_fault"
    assert fragment in (mapped.fix or "")


def test_a_bad_key_is_an_auth_error_that_never_shows_the_key(
    sft_file: Path, monkeypatch, tmp_path
) -> None:
    with TogetherEmulator(api_keys={"the-right-key"}) as emu:
        monkeypatch.setenv("TOGETHER_BASE_URL", emu.base_url)
        monkeypatch.setenv("TOGETHER_API_KEY", "sk-wrong-secret-123")
        monkeypatch.setenv("TUNESDK_HOME", str(tmp_path))
        with pytest.raises(AuthError) as denied:
            start(sft_job(sft_file))
    assert "TOGETHER_API_KEY" in str(denied.value)
    assert "sk-wrong-secret-123" not in str(denied.value) + repr(denied.value)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert "sk-wrong-secret-123" not in path.read_text(errors="ignore")


def test_file_rejected_by_together_stops_before_create(
    together_env: TogetherEmulator, data, fast_retries
) -> None:
    rows = data.chat(3)
    rows[2]["messages"].append({"role": "assistant", "content": "two assistant turns in a row"})
    bad = data.write("bad.jsonl", rows)
    backend, run = TogetherBackend(), None

    with pytest.raises(ProviderError) as rejected:
        backend.upload_file(_bare_run(bad), bad, "train")

    assert rejected.value.code == "invalid_file_format"
    assert "line 3" in rejected.value.message
    assert together_env.state.list_jobs() == [] and run is None


def test_cancel_of_a_finished_job_is_harmless(
    together_env: TogetherEmulator, sft_file: Path
) -> None:
    backend, run = start(sft_job(sft_file))
    finish(backend, run)
    backend.cancel_job(run)  # Together answers 400 "already completed": nothing to do
    assert together_env.state.get_job(run.state["remote_job_id"]).status() == "completed"


def _bare_run(train: Path) -> RunRecord:
    job = sft_job(train)
    return RunStore().create(job, TogetherBackend().plan(job), "together")


def test_bad_data_and_unknown_models_fail_before_any_request(
    together_env: TogetherEmulator, data
) -> None:
    rows = data.chat(4)
    rows[3]["messages"] = [{"role": "assistant", "content": "no question first"}]
    bad = data.write("bad.jsonl", rows)

    with pytest.raises(DataError) as invalid:
        start(sft_job(bad))
    with pytest.raises(JobError, match="not a base model"):
        start(sft_job(data.write("ok.jsonl", data.chat(4)), model="acme/unknown-7b"))

    assert "bad.jsonl:4" in str(invalid.value) and "nothing was uploaded" in str(invalid.value)
    assert together_env.faults.requests == []


def test_chat_on_the_result_and_deploy_when_not_serverless(
    together_env: TogetherEmulator, sft_file: Path
) -> None:
    backend, run = start(sft_job(sft_file))
    finish(backend, run)
    done = run.events()[-1]
    assert isinstance(done, Completed)
    served = done.model
    assert served.chat([{"role": "user", "content": "hello"}]) == f"[{served.model_id}] hello"
    assert served.generate("Once upon") == f"[{served.model_id}] Once upon"

    backend, run = start(sft_job(sft_file, model="Qwen/Qwen2.5-0.5B-Instruct", suffix="dedicated"))
    finish(backend, run)
    model = run.events()[-1].model
    with pytest.raises(ProviderError, match="non-serverless") as refused:
        model.chat([{"role": "user", "content": "hello"}])
    assert "model.deploy()" in (refused.value.fix or "")

    deployed = model.deploy(hardware="1x_nvidia_h100_80gb_sxm")

    assert deployed.model_id != model.model_id and deployed.job_id == model.job_id
    assert deployed.chat([{"role": "user", "content": "hello"}]) == f"[{deployed.model_id}] hello"


def test_upload_faults_are_retried_without_duplicate_files(
    together_env: TogetherEmulator, sft_file: Path
) -> None:
    together_env.fault(status=503, method="POST", path="/v1/files$")
    together_env.fault(kind="drop", method="PUT", path="/_storage/uploads/")
    together_env.fault(kind="commit_then_drop", method="POST", path="/v1/files/")  # preprocess

    backend, run = start(sft_job(sft_file))
    finish(backend, run)

    files = together_env.state.files.listing()
    assert [f["id"] for f in files if f["processing_status"] == "COMPLETED"] == [
        run.state["file_ids"]["train"]
    ]
    assert run.status == "completed"


def test_upload_waits_for_together_to_validate_the_file(
    together_env: TogetherEmulator, sft_file: Path
) -> None:
    together_env.state.set_timing(validation_s=0.3)
    run = _bare_run(sft_file)

    began = time.monotonic()
    file_id = TogetherBackend().upload_file(run, sft_file, "train")

    assert time.monotonic() - began >= 0.3
    assert together_env.state.files.get(file_id).processing_status == "COMPLETED"
    assert together_env.faults.count("GET", f"/v1/files/{file_id}") >= 1
