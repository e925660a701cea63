"""``tunesdk-openai emulator --port N`` serves the emulator from the command line."""

from __future__ import annotations

import socket
import subprocess
import sys

import openai


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_emulator_command_serves_the_api(wait_until):
    port = _free_port()
    command = [sys.executable, "-m", "tunesdk_openai.cli", "emulator", "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        client = openai.OpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-cli", max_retries=0
        )

        def listed():
            try:
                return client.fine_tuning.jobs.list().has_more is False
            except openai.APIConnectionError:
                return False

        assert wait_until(listed)
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=10)
    assert f"OPENAI_BASE_URL=http://127.0.0.1:{port}/v1" in stderr
