"""The fine-tuned model: chat() says it must be deployed, deploy() makes it answer."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import fireworks
import httpx
import pytest

from tunesdk.errors import ProviderError, TuneError
from tunesdk.models import ProviderModel, load_model
from tunesdk_fireworks.emulator import FireworksEmulator

BASE = "accounts/fireworks/models/qwen2p5-7b-instruct"
TUNED = "accounts/acme/models/tuned"


@pytest.fixture
def tuned(
    fireworks_env: FireworksEmulator, sdk: fireworks.Fireworks, ready_dataset: str
) -> ProviderModel:
    sdk.supervised_fine_tuning_jobs.create(
        dataset=ready_dataset,
        base_model=BASE,
        output_model="tuned",
        supervised_fine_tuning_job_id="t",
    )
    deadline = time.monotonic() + 5
    while sdk.supervised_fine_tuning_jobs.get("t").state != "JOB_STATE_COMPLETED":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return ProviderModel(
        provider="fireworks", model_id=TUNED, base_model="Qwen/Qwen2.5-7B-Instruct"
    )


def test_chat_before_deploy_says_to_deploy(tuned: ProviderModel) -> None:
    with pytest.raises(ProviderError) as refused:
        tuned.chat([{"role": "user", "content": "hi"}])
    assert "not deployed" in refused.value.message
    assert refused.value.status == 404
    assert "model.deploy()" in (refused.value.fix or "")


def test_deploy_live_merge_then_chat(
    tuned: ProviderModel, fireworks_env: FireworksEmulator
) -> None:
    deployed = tuned.deploy()
    deployment = "accounts/acme/deployments/tuned-live"
    assert deployed.model_id == f"{TUNED}#{deployment}"
    assert fireworks_env.state.get_deployment("acme", "tuned-live")["state"] == "READY"
    reply = deployed.chat([{"role": "user", "content": "What is 2 + 2?"}], max_tokens=16)
    assert reply == f"[{TUNED}#{deployment}] emulated reply to: What is 2 + 2?"
    assert deployed.generate("Once upon a time").endswith("emulated continuation")
    # deploying again reuses the deployment instead of failing or making a second one
    assert tuned.deploy().model_id == deployed.model_id
    assert len(fireworks_env.state.deployments) == 1
    # the handle round-trips through its URI
    assert load_model(deployed.to_uri()).model_id == deployed.model_id


def test_deploy_onto_a_shared_multi_lora_deployment(
    tuned: ProviderModel, sdk: fireworks.Fireworks
) -> None:
    sdk.deployments.create(base_model=BASE, deployment_id="shared", enable_addons=True)
    deployed = tuned.deploy(deployment="accounts/acme/deployments/shared")
    assert deployed.model_id == f"{TUNED}#accounts/acme/deployments/shared"
    assert "emulated reply" in deployed.chat([{"role": "user", "content": "hi"}])


def test_chat_checks_its_messages(tuned: ProviderModel) -> None:
    with pytest.raises(TuneError, match="non-empty list"):
        tuned.chat([])


def test_emulator_command_line() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = os.path.join(os.path.dirname(sys.executable), "tunesdk-fireworks")
    server = subprocess.Popen(
        [script, "emulator", "--port", str(port), "--require-api-key", "k"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(f"{url}/_fireworks/config")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the emulator did not start"
                time.sleep(0.1)
        client = fireworks.Fireworks(api_key="k", account_id="me", base_url=url, max_retries=0)
        assert (
            client.models.get("qwen2p5-7b-instruct", account_id="fireworks").kind == "HF_BASE_MODEL"
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
