"""The emulator's fine-tuning jobs, events, checkpoints and chat, driven by the official SDK."""

from __future__ import annotations

import httpx
import openai
import pytest

MODEL = "gpt-4o-mini-2024-07-18"


def _upload(sdk, samples, rows, name="train.jsonl"):
    return sdk.files.create(file=(name, samples.jsonl(rows)), purpose="fine-tune").id


def _supervised(n_epochs=3, batch_size=4):
    hyper = {"n_epochs": n_epochs, "batch_size": batch_size}
    return {"type": "supervised", "supervised": {"hyperparameters": hyper}}


def _finished(sdk, job_id):
    job = sdk.fine_tuning.jobs.retrieve(job_id)
    return job if job.status in ("succeeded", "failed", "cancelled") else None


def test_job_moves_through_every_status_to_a_servable_model(emulator, sdk, samples, wait_until):
    emulator.settings.validate_s = emulator.settings.queue_s = 0.3  # long enough to observe
    train = _upload(sdk, samples, samples.chat(12))
    valid = _upload(sdk, samples, samples.chat(10), "valid.jsonl")
    job = sdk.fine_tuning.jobs.create(
        model=MODEL,
        training_file=train,
        validation_file=valid,
        method=_supervised(),
        suffix="adder",
        seed=7,
        metadata={"tunesdk_run_id": "run-1"},
    )
    assert job.status == "validating_files"
    assert job.method.supervised.hyperparameters.n_epochs == 3
    seen = [job.status]

    def observe():
        now = sdk.fine_tuning.jobs.retrieve(job.id)
        seen.append(now.status)
        return now if now.status in ("succeeded", "failed", "cancelled") else None

    done = wait_until(observe)
    assert list(dict.fromkeys(seen)) == ["validating_files", "queued", "running", "succeeded"]
    assert done.status == "succeeded"
    assert done.fine_tuned_model == f"ft:{MODEL}:emulator:adder:{job.id[-8:]}"
    assert done.trained_tokens and done.trained_tokens > 0
    assert done.hyperparameters.batch_size == 4
    assert done.seed == 7 and done.metadata == {"tunesdk_run_id": "run-1"}
    assert done.result_files and sdk.files.content(done.result_files[0]).read().startswith(b"step,")

    reply = sdk.chat.completions.create(
        model=done.fine_tuned_model, messages=[{"role": "user", "content": "2 + 2?"}]
    )
    assert reply.choices[0].message.content == (
        f"[{done.fine_tuned_model}] (fine-tuned by {job.id}) You said: 2 + 2?"
    )


def test_events_are_newest_first_with_metrics_and_an_after_cursor(sdk, samples, wait_until):
    train = _upload(sdk, samples, samples.chat(12))
    valid = _upload(sdk, samples, samples.chat(10), "valid.jsonl")
    job = sdk.fine_tuning.jobs.create(
        model=MODEL, training_file=train, validation_file=valid, method=_supervised()
    )
    wait_until(lambda: _finished(sdk, job.id))
    events = list(sdk.fine_tuning.jobs.list_events(job.id, limit=5))  # auto-paginated
    messages = [e.message for e in reversed(events)]
    assert messages[0] == f"Created fine-tuning job: {job.id}"
    assert messages[-1] == "The job has successfully completed"
    metrics = [e.data for e in reversed(events) if e.type == "metrics"]
    assert [m["step"] for m in metrics] == list(range(1, 10))  # 12 examples / 4 × 3 epochs
    assert all(m["total_steps"] == 9 for m in metrics)
    assert metrics[-1]["train_loss"] < metrics[0]["train_loss"]
    assert "full_valid_loss" in metrics[2]  # end of epoch 1 evaluates the whole validation file

    page = sdk.fine_tuning.jobs.list_events(job.id, limit=3)
    after = sdk.fine_tuning.jobs.list_events(job.id, limit=3, after=page.data[-1].id)
    assert [e.id for e in after.data] == [e.id for e in events[3:6]]


def test_checkpoints_cover_the_last_three_epochs(sdk, samples, wait_until):
    train = _upload(sdk, samples, samples.chat(12))
    job = sdk.fine_tuning.jobs.create(model=MODEL, training_file=train, method=_supervised(4, 6))
    done = wait_until(lambda: _finished(sdk, job.id))
    checkpoints = sdk.fine_tuning.jobs.checkpoints.list(job.id).data
    assert [c.step_number for c in checkpoints] == [8, 6, 4]  # 2 steps per epoch, epochs 2-4
    assert checkpoints[0].fine_tuned_model_checkpoint == f"{done.fine_tuned_model}:ckpt-step-8"
    assert checkpoints[0].metrics.train_loss is not None
    chat = sdk.chat.completions.create(
        model=checkpoints[-1].fine_tuned_model_checkpoint,
        messages=[{"role": "user", "content": "x"}],
    )
    assert job.id in chat.choices[0].message.content


def test_dpo_job_reports_beta(sdk, samples, wait_until):
    train = _upload(sdk, samples, samples.dpo(12))
    method = {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2, "n_epochs": 1}}}
    job = sdk.fine_tuning.jobs.create(
        model="gpt-4.1-mini-2025-04-14", training_file=train, method=method
    )
    done = wait_until(lambda: _finished(sdk, job.id))
    assert done.status == "succeeded"
    assert done.method.type == "dpo"
    assert done.method.dpo.hyperparameters.beta == 0.2
    assert done.hyperparameters is None  # only supervised jobs report top-level hyperparameters


def test_invalid_training_file_fails_the_job_naming_the_line(sdk, samples, wait_until):
    rows = samples.chat(12)
    rows[3] = {"messages": [{"role": "user", "content": "no answer"}]}
    job = sdk.fine_tuning.jobs.create(model=MODEL, training_file=_upload(sdk, samples, rows))
    done = wait_until(lambda: _finished(sdk, job.id))
    assert done.status == "failed"
    assert done.error.code == "invalid_training_file"
    assert done.error.param == "training_file"
    assert "line 4" in done.error.message and "assistant" in done.error.message


def test_preference_file_is_invalid_for_supervised_jobs(sdk, samples, wait_until):
    job = sdk.fine_tuning.jobs.create(
        model=MODEL, training_file=_upload(sdk, samples, samples.dpo())
    )
    done = wait_until(lambda: _finished(sdk, job.id))
    assert done.status == "failed" and "messages" in done.error.message


def test_too_few_examples(sdk, samples, wait_until):
    job = sdk.fine_tuning.jobs.create(
        model=MODEL, training_file=_upload(sdk, samples, samples.chat(9))
    )
    done = wait_until(lambda: _finished(sdk, job.id))
    assert done.error.code == "invalid_n_examples"
    assert "at least 10" in done.error.message


@pytest.mark.parametrize(
    ("changes", "param"),
    [
        ({"model": "gpt-5-turbo-xl"}, "model"),
        ({"model": "gpt-3.5-turbo-0125", "method": {"type": "dpo"}}, "method.type"),
        ({"method": _supervised(n_epochs=51)}, "method.supervised.hyperparameters.n_epochs"),
        ({"method": _supervised(batch_size=0)}, "method.supervised.hyperparameters.batch_size"),
        (
            {"method": {"type": "dpo", "dpo": {"hyperparameters": {"beta": 2.5}}}},
            "method.dpo.hyperparameters.beta",
        ),
        ({"suffix": "x" * 65}, "suffix"),
        ({"seed": -1}, "seed"),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
        ({"training_file": "file-missing"}, "training_file"),
        ({"integrations": [{"type": "wandb", "wandb": {}}]}, "integrations[0].wandb.project"),
    ],
)
def test_bad_job_requests_are_400_naming_the_param(sdk, samples, changes, param):
    body = {"model": MODEL, "training_file": _upload(sdk, samples, samples.chat())} | changes
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.fine_tuning.jobs.create(**body)
    assert caught.value.param == param
    assert caught.value.type == "invalid_request_error"


def test_list_filters_by_metadata_and_paginates(sdk, samples):
    train = _upload(sdk, samples, samples.chat())
    ids = [
        sdk.fine_tuning.jobs.create(
            model=MODEL, training_file=train, metadata={"tunesdk_run_id": f"run-{i % 2}"}
        ).id
        for i in range(4)
    ]
    mine = sdk.fine_tuning.jobs.list(metadata={"tunesdk_run_id": "run-1"})
    assert [j.id for j in mine] == [ids[3], ids[1]]
    first = sdk.fine_tuning.jobs.list(limit=3)
    assert [j.id for j in first.data] == ids[::-1][:3] and first.has_more
    assert [j.id for j in sdk.fine_tuning.jobs.list(limit=3)] == ids[::-1]


def test_cancel_pause_resume(emulator, sdk, samples, wait_until):
    emulator.settings.seconds_per_step = 0.2
    train = _upload(sdk, samples, samples.chat(40))
    job = sdk.fine_tuning.jobs.create(model=MODEL, training_file=train, method=_supervised(3, 1))
    wait_until(lambda: sdk.fine_tuning.jobs.retrieve(job.id).status == "running")
    paused = sdk.fine_tuning.jobs.pause(job.id)
    assert paused.status == "paused"
    with pytest.raises(openai.BadRequestError):
        sdk.fine_tuning.jobs.pause(job.id)
    assert sdk.fine_tuning.jobs.resume(job.id).status == "running"
    cancelled = sdk.fine_tuning.jobs.cancel(job.id)
    assert cancelled.status == "cancelled" and cancelled.finished_at is not None
    with pytest.raises(openai.BadRequestError, match="cancelled"):
        sdk.fine_tuning.jobs.cancel(job.id)
    messages = [e.message for e in sdk.fine_tuning.jobs.list_events(job.id)]
    assert messages[:3] == [
        "Fine-tuning job cancelled",
        "Fine-tuning job resumed",
        "Fine-tuning job paused",
    ]
    with pytest.raises(openai.NotFoundError):  # a cancelled job made no model
        sdk.chat.completions.create(
            model=f"ft:{MODEL}:emulator::{job.id[-8:]}", messages=[{"role": "user", "content": "x"}]
        )


def test_job_failing_mid_training(emulator, sdk, samples, wait_until):
    emulator.settings.fail_at_step = 4
    job = sdk.fine_tuning.jobs.create(
        model=MODEL, training_file=_upload(sdk, samples, samples.chat()), method=_supervised()
    )
    done = wait_until(lambda: _finished(sdk, job.id))
    assert done.status == "failed"
    assert done.error.code == "internal_error" and "step 4" in done.error.message
    steps = [
        e.data["step"] for e in sdk.fine_tuning.jobs.list_events(job.id) if e.type == "metrics"
    ]
    assert max(steps) == 4


def test_organization_without_fine_tuning_gets_403(emulator, sdk, samples):
    emulator.settings.fine_tuning_enabled = False
    with pytest.raises(openai.PermissionDeniedError, match="not available"):
        sdk.fine_tuning.jobs.create(
            model=MODEL, training_file=_upload(sdk, samples, samples.chat())
        )


def test_out_of_quota_is_429_insufficient_quota(emulator, sdk, samples):
    emulator.settings.out_of_quota = True
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.fine_tuning.jobs.create(
            model=MODEL, training_file=_upload(sdk, samples, samples.chat())
        )
    assert caught.value.code == "insufficient_quota"


def test_chat_on_unknown_model_is_404(sdk):
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.chat.completions.create(
            model="ft:gpt-4o-mini-2024-07-18:emulator::nope",
            messages=[{"role": "user", "content": "x"}],
        )
    assert caught.value.code == "model_not_found"


def test_azure_client_reaches_the_same_service(emulator, sdk, samples, wait_until):
    azure = openai.AzureOpenAI(
        azure_endpoint=emulator.url,
        api_version="2025-04-01-preview",
        api_key="azure-key",
        max_retries=0,
    )
    train = azure.files.create(
        file=("train.jsonl", samples.jsonl(samples.chat())), purpose="fine-tune"
    )
    job = azure.fine_tuning.jobs.create(
        model="gpt-4o-mini", training_file=train.id, method=_supervised(1)
    )
    done = wait_until(lambda: _finished(sdk, job.id))
    reply = azure.chat.completions.create(
        model=done.fine_tuned_model, messages=[{"role": "user", "content": "hi"}]
    )  # AzureOpenAI sends this to /openai/deployments/<model>/chat/completions
    assert done.fine_tuned_model in str(reply.choices[0].message.content)
    missing_version = httpx.get(f"{emulator.url}/openai/files", headers={"api-key": "k"})
    assert missing_version.status_code == 404


def test_faults_and_settings_over_http(emulator, sdk, api_key):
    httpx.post(
        f"{emulator.url}/_emulator/faults", json={"status": 503, "times": 2, "path": "/v1/files"}
    )
    for _ in range(2):
        with pytest.raises(openai.InternalServerError) as caught:
            sdk.files.list()
        assert caught.value.type == "server_error"
    assert sdk.files.list().data == []
    changed = httpx.post(emulator.settings_url, json={"seconds_per_step": 0.5}).json()
    assert changed["seconds_per_step"] == 0.5 and "api_keys" not in changed
    assert httpx.post(emulator.settings_url, json={"nonsense": 1}).status_code == 400
