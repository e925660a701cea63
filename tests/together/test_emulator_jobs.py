"""The emulator's fine-tuning, download, inference and fault API, driven by the official SDK."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import zstandard
from together import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    RateLimitError,
    Together,
)
from together.lib import DownloadManager

from tunesdk_together.emulator import TogetherEmulator

SERVERLESS = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
DEDICATED = "Qwen/Qwen2.5-0.5B-Instruct"
TERMINAL = {"completed", "error", "cancelled"}


def create(client: Together, file_id: str, **overrides: Any) -> Any:
    arguments: dict[str, Any] = {
        "training_file": file_id,
        "model": SERVERLESS,
        "n_epochs": 2,
        "batch_size": 8,
        "lora": True,
        "lora_r": 8,
        "learning_rate": 2e-4,
        "train_on_inputs": False,
        "suffix": "unit-test",
    }
    arguments.update(overrides)
    return client.fine_tuning.create(**arguments)


def metrics(client: Together, job_id: str, **query: Any) -> list[dict[str, Any]]:
    return client.fine_tuning.list_metrics(job_id, **query).metrics or []


def error_of(exc: BaseException) -> dict[str, Any]:
    """The ``error`` object of a Together error response."""
    body: Any = getattr(exc, "body", None)
    return dict(body["error"])


def text_of(completion: Any) -> str:
    return str(completion.choices[0].message.content)


def wait(client: Together, job_id: str, timeout: float = 10.0) -> tuple[Any, list[str]]:
    """Poll until the job ends; returns the final job and every distinct status seen, in order."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.fine_tuning.retrieve(job_id)
        if not seen or seen[-1] != job.status:
            seen.append(job.status)
        if job.status in TERMINAL:
            return job, seen
        time.sleep(0.005)
    raise AssertionError(f"job still {seen[-1]} after {timeout} s")


def test_sft_job_moves_through_every_status_with_metrics(
    client: Together, emulator: TogetherEmulator, data, sft_file: Path
) -> None:
    phases = ("pending_s", "queued_s", "compress_s", "upload_s")
    emulator.configure(**dict.fromkeys(phases, 0.15))  # each phase long enough to be polled
    train = client.files.upload(file=sft_file, purpose="fine-tune")
    evals = client.files.upload(file=data.write("eval.jsonl", data.chat(8)), purpose="fine-tune")

    created = create(client, train.id, validation_file=evals.id, n_evals=2, n_checkpoints=2)
    job, statuses = wait(client, created.id)

    assert created.status == "pending"
    assert statuses == ["pending", "queued", "running", "compressing", "uploading", "completed"]
    assert job.x_model_output_name.endswith(f"unit-test-{created.id[3:11]}")
    assert job.total_steps == 4 and job.steps_completed == 4  # 16 rows / batch 8 × 2 epochs
    kinds = [e.type for e in client.fine_tuning.list_events(created.id).data]
    assert kinds[0] == "job_pending" and kinds[-1] == "job_complete"
    assert kinds.count("epoch_complete") == 2
    assert kinds.count("checkpoint_save") == 1  # n_checkpoints=2: one intermediate + the final
    assert (
        kinds.index("training_start")
        < kinds.index("checkpoint_save")
        < kinds.index("model_compressing")
    )
    rows = metrics(client, created.id)
    train_rows = [r for r in rows if "train/loss" in r]
    eval_rows = [r for r in rows if "eval/loss" in r]
    assert [r["train/global_step"] for r in train_rows] == [1, 2, 3, 4]
    assert train_rows[-1]["train/loss"] < train_rows[0]["train/loss"]
    assert [r["train/global_step"] for r in eval_rows] == [2, 4]
    later = metrics(client, created.id, global_step_from=3)
    assert {r["train/global_step"] for r in later} == {3, 4}
    checkpoints = client.fine_tuning.list_checkpoints(created.id).data
    assert [(c.step, c.checkpoint_type) for c in checkpoints] == [
        (2, "Intermediate (step 2)"),
        (4, "Final Merged"),
        (4, "Final Adapter"),
    ]
    listed = client.fine_tuning.list().data
    assert [(j.id, j.suffix) for j in listed] == [(created.id, "unit-test")]


def test_dpo_job_needs_preference_data(client: Together, sft_file: Path, dpo_file: Path) -> None:
    sft = client.files.upload(file=sft_file, purpose="fine-tune")
    prefs = client.files.upload(file=dpo_file, purpose="fine-tune")

    with pytest.raises(BadRequestError) as caught:
        create(client, sft.id, training_method="dpo", train_on_inputs=None, dpo_beta=0.2)
    assert "DPO needs preference data" in error_of(caught.value)["message"]

    created = create(client, prefs.id, training_method="dpo", train_on_inputs=None, dpo_beta=0.2)
    job, _ = wait(client, created.id)
    assert job.status == "completed"
    assert job.training_method.method == "dpo" and job.training_method.dpo_beta == 0.2
    rows = metrics(client, created.id)
    assert 0.25 < rows[-1]["train/loss"] < rows[0]["train/loss"] < 0.6931  # DPO starts below ln 2
    assert rows[-1]["train/rewards/accuracies"] > rows[0]["train/rewards/accuracies"] >= 0.5


def test_continue_from_a_checkpoint_of_an_earlier_job(client: Together, sft_file: Path) -> None:
    train = client.files.upload(file=sft_file, purpose="fine-tune")
    first, _ = wait(client, create(client, train.id, n_checkpoints=2).id)

    second = create(client, train.id, model=None, from_checkpoint=f"{first.id}:2", suffix="more")

    assert second.model == SERVERLESS  # the base model comes from the parent job
    assert client.fine_tuning.retrieve(second.id).from_checkpoint == f"{first.id}:2"


def test_job_that_fails_mid_training(
    client: Together, emulator: TogetherEmulator, sft_file: Path
) -> None:
    emulator.fail_next_job(at_step=2, message="Training failed: loss became NaN")
    train = client.files.upload(file=sft_file, purpose="fine-tune")

    job, statuses = wait(client, create(client, train.id).id)

    assert statuses[-2:] == ["running", "error"]
    events = client.fine_tuning.list_events(job.id).data
    assert (
        events[-1].type == "job_error" and events[-1].message == "Training failed: loss became NaN"
    )
    assert events[-1].level == "error"
    assert max(r["train/global_step"] for r in metrics(client, job.id)) == 2


def test_cancel_stops_the_job(client: Together, emulator: TogetherEmulator, sft_file: Path) -> None:
    emulator.configure(seconds_per_step=0.2, cancel_s=0.5)  # cancel_requested lasts long enough
    train = client.files.upload(file=sft_file, purpose="fine-tune")
    created = create(client, train.id)
    while client.fine_tuning.retrieve(created.id).status != "running":
        time.sleep(0.01)

    cancelled = client.fine_tuning.cancel(created.id)
    _, statuses = wait(client, created.id)

    assert cancelled.status == "cancel_requested"
    assert statuses == ["cancel_requested", "cancelled"]
    kinds = [e.type for e in client.fine_tuning.list_events(created.id).data]
    assert kinds[-2:] == ["cancel_requested", "job_stopped"]
    with pytest.raises(BadRequestError, match="already cancelled"):
        client.fine_tuning.cancel(created.id)


def test_create_is_refused_with_together_shaped_errors(
    client: Together, emulator: TogetherEmulator, sft_file: Path
) -> None:
    train = client.files.upload(file=sft_file, purpose="fine-tune")

    with pytest.raises(NotFoundError) as unknown:  # the SDK asks for the model's limits first
        create(client, train.id, model="acme/not-a-model")
    assert "not available for fine-tuning" in error_of(unknown.value)["message"]

    with pytest.raises(ValueError, match="batch size of 64 is higher"):  # the SDK's own check
        create(client, train.id, batch_size=64)

    with pytest.raises(BadRequestError) as suffix:
        create(client, train.id, suffix="x" * 41)
    assert error_of(suffix.value)["param"] == "suffix"

    response = httpx.post(
        f"{emulator.base_url}/v1/fine-tunes",
        headers={"Authorization": "Bearer k"},
        json={"training_file": train.id, "model": "meta-llama/Llama-3.1-8B-Instruct"},
    )
    assert response.status_code == 400
    assert "Did you mean meta-llama/Meta-Llama-3.1-8B-Instruct-Reference" in response.text


def test_insufficient_balance_and_bad_key(sft_file: Path) -> None:
    with TogetherEmulator(api_keys={"good"}, balance=0.0) as emu:
        good = Together(base_url=emu.base_url, api_key="good", max_retries=0)
        bad = Together(base_url=emu.base_url, api_key="wrong", max_retries=0)
        with pytest.raises(AuthenticationError) as denied:
            bad.files.list()
        assert error_of(denied.value)["code"] == "invalid_api_key"

        train = good.files.upload(file=sft_file, purpose="fine-tune")
        with pytest.raises(Exception) as broke:
            create(good, train.id)
        assert getattr(broke.value, "status_code", None) == 402
        assert error_of(broke.value)["code"] == "insufficient_balance"
        assert good.fine_tuning.list().data == []


def test_download_serves_a_zstd_tar_of_real_weight_files(
    client: Together, sft_file: Path, tmp_path: Path
) -> None:
    train = client.files.upload(file=sft_file, purpose="fine-tune")
    job, _ = wait(client, create(client, train.id, lora_r=4).id)

    with client.fine_tuning.with_streaming_response.content(
        ft_id=job.id, checkpoint="adapter"
    ) as r:
        archive = r.read()
    assert archive[:4] == b"\x28\xb5\x2f\xfd"
    raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(archive)).read()
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        names = sorted(tar.getnames())
        member = tar.extractfile("adapter_config.json")
        assert member is not None
        config = json.load(member)
    assert names == ["adapter_config.json", "adapter_model.safetensors"]
    assert config["r"] == 4 and config["peft_type"] == "LORA"

    # The SDK's CLI download path asks for a byte range first, then streams.
    path, size = DownloadManager(client).download(
        url=f"/v1/finetune/download?ft_id={job.id}&checkpoint=merged",
        output=tmp_path / "merged.tar.zst",
        fetch_metadata=True,
    )
    assert size == Path(path).stat().st_size > 0


def test_download_before_completion_is_refused(
    client: Together, emulator: TogetherEmulator, sft_file: Path
) -> None:
    emulator.state.set_timing(seconds_per_step=5.0)
    train = client.files.upload(file=sft_file, purpose="fine-tune")
    created = create(client, train.id)
    with pytest.raises(BadRequestError, match="only completed jobs"):
        client.fine_tuning.content(ft_id=created.id, checkpoint="adapter")


def test_chat_routes_fine_tuned_models_and_endpoints(client: Together, sft_file: Path) -> None:
    train = client.files.upload(file=sft_file, purpose="fine-tune")
    serverless, _ = wait(client, create(client, train.id).id)
    dedicated, _ = wait(client, create(client, train.id, model=DEDICATED, suffix="ded").id)
    question: Any = [{"role": "user", "content": "ping"}]

    reply = client.chat.completions.create(model=serverless.x_model_output_name, messages=question)
    assert text_of(reply) == f"[{serverless.x_model_output_name}] ping"

    with pytest.raises(BadRequestError, match="non-serverless model"):
        client.chat.completions.create(model=dedicated.x_model_output_name, messages=question)
    endpoint = client.post(
        "/v1/endpoints",
        body={
            "model": dedicated.x_model_output_name,
            "hardware": "1x_nvidia_h100_80gb_sxm",
            "autoscaling": {"min_replicas": 1, "max_replicas": 1},
        },
        cast_to=httpx.Response,
    ).json()
    assert endpoint["state"] == "PENDING"
    while (
        client.get(f"/v1/endpoints/{endpoint['id']}", cast_to=httpx.Response).json()["state"]
        != "STARTED"
    ):
        time.sleep(0.01)
    routed = client.chat.completions.create(model=endpoint["name"], messages=question)
    assert text_of(routed) == f"[{endpoint['name']}] ping"

    with pytest.raises(NotFoundError):
        client.chat.completions.create(model="acme/unknown", messages=question)


def test_injected_faults_look_like_together(
    client: Together, emulator: TogetherEmulator, sft_file: Path
) -> None:
    emulator.fault(status=429, path="/v1/files", times=2, retry_after=0)
    with pytest.raises(RateLimitError) as limited:
        client.files.list()
    assert error_of(limited.value)["type"] == "rate_limit_exceeded"
    assert limited.value.response.headers["x-request-id"]

    retrying = Together(base_url=emulator.base_url, api_key="k", max_retries=2)
    assert retrying.files.list().data == []  # the second 429, then success

    train = client.files.upload(file=sft_file, purpose="fine-tune")
    emulator.fault(kind="commit_then_drop", method="POST", path="/v1/fine-tunes$")
    with pytest.raises(APIConnectionError):
        create(client, train.id)
    assert (
        len(client.fine_tuning.list().data) == 1
    )  # the create took effect; only its answer was lost


def test_admin_route_sets_speed_and_failures(emulator: TogetherEmulator) -> None:
    response = httpx.post(
        f"{emulator.base_url}/_emulator/training",
        json={"seconds_per_step": 0.5, "fail_next_job_at_step": 3},
    )
    assert response.json() == {
        "timing": {**emulator.state.config.timing.__dict__, "seconds_per_step": 0.5},
        "failures_pending": 1,
    }
    assert emulator.state.failures[0].at_step == 3


def test_cli_serves_the_emulator(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "tunesdk_together.cli", "emulator", "--port", str(port)]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=os.environ
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                models = httpx.get(
                    f"http://127.0.0.1:{port}/v1/fine-tunes/models/supported",
                    headers={"Authorization": "Bearer x"},
                )
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.1)
        assert DEDICATED in models.json()["models"]
    finally:
        process.terminate()
        process.wait(timeout=10)
