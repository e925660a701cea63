"""The emulator's jobs, models, deployments and inference, driven by the official SDK."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fireworks
import httpx
import pytest

from tunesdk_fireworks.emulator import FireworksEmulator

ACCOUNT = "acme"
BASE = "accounts/fireworks/models/qwen2p5-7b-instruct"


def body(info: pytest.ExceptionInfo[Any]) -> dict[str, Any]:
    """The JSON error body the SDK exception carries."""
    value: dict[str, Any] = info.value.body
    return value


def wait_for(
    read: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 5.0
) -> list[Any]:
    """Poll ``read`` until ``done``; returns every distinct value seen, in order."""
    seen: list[Any] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = read()
        if not seen or seen[-1] != value:
            seen.append(value)
        if done(value):
            return seen
        time.sleep(0.005)
    raise AssertionError(f"timed out; saw {seen}")


def test_sft_job_walks_through_every_state(sdk: fireworks.Fireworks, ready_dataset: str) -> None:
    job = sdk.supervised_fine_tuning_jobs.create(
        dataset=ready_dataset,
        base_model=BASE,
        epochs=2,
        batch_size_samples=2,
        lora_rank=16,
        learning_rate=2e-4,
        output_model="my-model",
        supervised_fine_tuning_job_id="job-1",
    )
    assert job.name == f"accounts/{ACCOUNT}/supervisedFineTuningJobs/job-1"
    assert job.state == "JOB_STATE_CREATING"
    assert job.output_model == f"accounts/{ACCOUNT}/models/my-model"

    states = wait_for(
        lambda: sdk.supervised_fine_tuning_jobs.get("job-1").state,
        lambda s: s == "JOB_STATE_COMPLETED",
    )
    assert states == [
        "JOB_STATE_CREATING",
        "JOB_STATE_VALIDATING",
        "JOB_STATE_PENDING",
        "JOB_STATE_RUNNING",
        "JOB_STATE_WRITING_RESULTS",
        "JOB_STATE_COMPLETED",
    ]
    done = sdk.supervised_fine_tuning_jobs.get("job-1")
    assert done.job_progress is not None and done.job_progress.percent == 100
    assert done.job_progress.epoch == 1  # zero-based, two epochs
    assert done.completed_time is not None
    model = sdk.models.get("my-model")
    assert model.kind == "HF_PEFT_ADDON"
    assert model.peft_details is not None and model.peft_details.r == 16
    assert model.peft_details.base_model == BASE


def test_progress_is_reported_while_running(sdk: fireworks.Fireworks, ready_dataset: str) -> None:
    sdk.supervised_fine_tuning_jobs.create(
        dataset=ready_dataset,
        base_model=BASE,
        batch_size_samples=1,
        supervised_fine_tuning_job_id="j",
    )

    def percent() -> int | None:
        progress = sdk.supervised_fine_tuning_jobs.get("j").job_progress
        return progress.percent if progress is not None else None

    percents = wait_for(percent, lambda p: p == 100)
    assert any(0 < p < 100 for p in percents if p is not None)
    assert sorted(p for p in percents if p is not None) == [p for p in percents if p is not None]


def test_cancel_goes_through_cancelling(
    sdk: fireworks.Fireworks, ready_dataset: str, emulator: FireworksEmulator
) -> None:
    emulator.config.seconds_per_step = 1.0
    sdk.supervised_fine_tuning_jobs.create(
        dataset=ready_dataset, base_model=BASE, supervised_fine_tuning_job_id="slow"
    )
    sdk.supervised_fine_tuning_jobs.cancel("slow", body={})
    states = wait_for(
        lambda: sdk.supervised_fine_tuning_jobs.get("slow").state,
        lambda s: s == "JOB_STATE_CANCELLED",
    )
    assert states == ["JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED"]
    with pytest.raises(fireworks.BadRequestError) as again:
        sdk.supervised_fine_tuning_jobs.cancel("slow", body={})
    assert body(again)["code"] == 9  # FAILED_PRECONDITION
    with pytest.raises(fireworks.NotFoundError):
        sdk.models.get("slow")


def test_a_job_can_fail_mid_training(
    sdk: fireworks.Fireworks, ready_dataset: str, emulator: FireworksEmulator
) -> None:
    emulator.config.fail_at_step = 2
    sdk.supervised_fine_tuning_jobs.create(
        dataset=ready_dataset,
        base_model=BASE,
        batch_size_samples=1,
        supervised_fine_tuning_job_id="f",
    )
    states = wait_for(
        lambda: sdk.supervised_fine_tuning_jobs.get("f").state, lambda s: s == "JOB_STATE_FAILED"
    )
    assert "JOB_STATE_RUNNING" in states
    failed = sdk.supervised_fine_tuning_jobs.get("f")
    assert failed.status is not None and failed.status.code == "INTERNAL"
    assert "failed at step 2" in (failed.status.message or "")


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (
            {"base_model": "accounts/fireworks/models/no-such-model"},
            fireworks.NotFoundError,
            "Model not found",
        ),
        ({"lora_rank": 128}, fireworks.BadRequestError, "loraRank 128 is out of range"),
        ({"max_context_length": 10**6}, fireworks.BadRequestError, "exceeds"),
        ({"dataset": "accounts/acme/datasets/missing"}, fireworks.NotFoundError, "not found"),
        ({"supervised_fine_tuning_job_id": "Bad_Id"}, fireworks.BadRequestError, "invalid job id"),
    ],
)
def test_create_refuses_what_fireworks_refuses(
    sdk: fireworks.Fireworks, ready_dataset: str, change: dict[str, Any], error: type, message: str
) -> None:
    kwargs = {"dataset": ready_dataset, "base_model": BASE, **change}
    with pytest.raises(error) as refused:
        sdk.supervised_fine_tuning_jobs.create(**kwargs)
    assert message in body(refused)["message"]


def test_one_job_id_and_one_output_model_per_job(
    sdk: fireworks.Fireworks, ready_dataset: str
) -> None:
    sdk.supervised_fine_tuning_jobs.create(
        dataset=ready_dataset,
        base_model=BASE,
        output_model="m",
        supervised_fine_tuning_job_id="one",
    )
    with pytest.raises(fireworks.ConflictError):
        sdk.supervised_fine_tuning_jobs.create(
            dataset=ready_dataset, base_model=BASE, supervised_fine_tuning_job_id="one"
        )
    with pytest.raises(fireworks.ConflictError, match="models/m already exists"):
        sdk.supervised_fine_tuning_jobs.create(
            dataset=ready_dataset,
            base_model=BASE,
            output_model="m",
            supervised_fine_tuning_job_id="two",
        )
    assert [str(j.name).rsplit("/", 1)[1] for j in sdk.supervised_fine_tuning_jobs.list()] == [
        "one"
    ]


def test_a_dataset_that_is_not_ready_is_refused(sdk: fireworks.Fireworks) -> None:
    sdk.datasets.create(dataset_id="empty", dataset={"user_uploaded": {}})
    with pytest.raises(fireworks.BadRequestError) as refused:
        sdk.supervised_fine_tuning_jobs.create(
            dataset="accounts/acme/datasets/empty", base_model=BASE
        )
    assert body(refused)["code"] == 9
    assert "not ready" in body(refused)["message"]


def test_dpo_job_reports_metrics_through_a_signed_file(
    sdk: fireworks.Fireworks, dpo_file: Path, ready_dataset: str
) -> None:
    sdk.datasets.create(dataset_id="prefs", dataset={"user_uploaded": {}})
    sdk.datasets.upload("prefs", file=dpo_file)
    with pytest.raises(fireworks.BadRequestError, match="needs preference examples"):
        sdk.dpo_jobs.create(dataset=ready_dataset, training_config={"base_model": BASE})
    with pytest.raises(fireworks.BadRequestError, match="beta"):
        sdk.dpo_jobs.create(
            dataset="accounts/acme/datasets/prefs",
            training_config={"base_model": BASE},
            loss_config={"method": "DPO", "dpo": {"beta": 0.7}},
        )
    job = sdk.dpo_jobs.create(
        dataset="accounts/acme/datasets/prefs",
        dpo_job_id="pref-1",
        training_config={
            "base_model": BASE,
            "epochs": 1,
            "batch_size_samples": 2,
            "output_model": "aligned",
        },
        loss_config={"method": "DPO", "dpo": {"beta": 0.1}},
    )
    assert (
        job.training_config is not None
        and job.training_config.output_model == "accounts/acme/models/aligned"
    )
    assert sdk.dpo_jobs.get_metrics_file_endpoint("pref-1").signed_url is None  # nothing logged yet
    wait_for(lambda: sdk.dpo_jobs.get("pref-1").state, lambda s: s == "JOB_STATE_COMPLETED")
    url = sdk.dpo_jobs.get_metrics_file_endpoint("pref-1").signed_url
    assert url
    rows = [json.loads(line) for line in httpx.get(url).text.splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert all(r["loss"] > 0 for r in rows)
    tail = httpx.get(url, headers={"Range": "bytes=10-"})
    assert tail.status_code == 206 and tail.content == httpx.get(url).content[10:]


def test_fine_tuned_models_answer_only_once_deployed(
    sdk: fireworks.Fireworks, ready_dataset: str, emulator: FireworksEmulator
) -> None:
    sdk.supervised_fine_tuning_jobs.create(
        dataset=ready_dataset,
        base_model=BASE,
        output_model="ft",
        supervised_fine_tuning_job_id="ft",
    )
    wait_for(
        lambda: sdk.supervised_fine_tuning_jobs.get("ft").state,
        lambda s: s == "JOB_STATE_COMPLETED",
    )
    model = f"accounts/{ACCOUNT}/models/ft"
    # base models are serverless; a LoRA is not
    base = sdk.chat.completions.create(model=BASE, messages=[{"role": "user", "content": "hi"}])
    assert base.choices[0].message.content == f"[{BASE}] emulated reply to: hi"
    with pytest.raises(fireworks.NotFoundError) as missing:
        sdk.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    assert body(missing)["error"]["message"] == "Model not found, inaccessible, and/or not deployed"

    # multi-LoRA needs a deployment created with enableAddons
    sdk.deployments.create(base_model=BASE, deployment_id="plain")
    with pytest.raises(fireworks.BadRequestError, match="enableAddons"):
        sdk.lora.load(model=model, deployment=f"accounts/{ACCOUNT}/deployments/plain")
    sdk.deployments.create(base_model=BASE, deployment_id="shared", enable_addons=True)
    loaded = sdk.lora.load(model=model, deployment=f"accounts/{ACCOUNT}/deployments/shared")
    assert loaded.state == "DEPLOYING"
    wait_for(
        lambda: sdk.lora.get(str(loaded.name).rsplit("/", 1)[1]).state, lambda s: s == "DEPLOYED"
    )
    routed = f"{model}#accounts/{ACCOUNT}/deployments/shared"
    answer = sdk.chat.completions.create(
        model=routed, messages=[{"role": "user", "content": "2+2?"}]
    )
    assert answer.choices[0].message.content == f"[{routed}] emulated reply to: 2+2?"
    text = sdk.completions.create(model=routed, prompt="Once upon")
    assert routed in text.choices[0].text

    # live merge: a deployment of the fine-tuned model itself
    sdk.deployments.create(base_model=model, deployment_id="merged")
    wait_for(lambda: sdk.deployments.get("merged").state, lambda s: s == "READY")
    merged = f"{model}#accounts/{ACCOUNT}/deployments/merged"
    assert sdk.chat.completions.create(
        model=merged, messages=[{"role": "user", "content": "x"}]
    ).choices
    sdk.deployments.delete("merged")
    with pytest.raises(fireworks.NotFoundError):
        sdk.chat.completions.create(model=merged, messages=[{"role": "user", "content": "x"}])


def test_faults_are_injected_over_http(
    sdk: fireworks.Fireworks, emulator: FireworksEmulator
) -> None:
    admin = httpx.post(
        f"{emulator.base_url}/_emulator/faults",
        json={"kind": "status", "status": 429, "times": 2, "path": "/v1/accounts/acme/datasets"},
    )
    assert admin.status_code == 200
    for _ in range(2):
        with pytest.raises(fireworks.RateLimitError) as limited:
            sdk.datasets.list()
        assert body(limited)["code"] == 8  # RESOURCE_EXHAUSTED, Fireworks' shape
    assert sdk.datasets.list().datasets == []
    settings = httpx.post(f"{emulator.base_url}/_fireworks/config", json={"seconds_per_step": 0.5})
    assert settings.json()["seconds_per_step"] == 0.5
    assert "api_key" not in settings.json()
    assert httpx.post(f"{emulator.base_url}/_fireworks/config", json={"nope": 1}).status_code == 400
