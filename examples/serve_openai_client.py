"""The official `openai` SDK, unchanged, fine-tunes through `tunesdk serve` — on a local GPU/CPU
with TRL, then on Together AI by changing one argument (the model, prefixed with its backend).

`tunesdk serve` speaks OpenAI's fine-tuning API (files, jobs, events, checkpoints, chat) over every
tunesdk backend. This script starts it as a user would (`tunesdk serve --port N`), points the SDK's
`base_url` at it, and runs the same `fine_tune()` twice:

1. `model=<path of a tiny random Llama>` → the server's default backend, trl (a real, 3-step LoRA)
2. `model="together:meta-llama/Llama-3.1-8B-Instruct"` → Together AI, here its offline emulator
   (the server's environment holds TOGETHER_API_KEY / TOGETHER_BASE_URL; the client never sees them)

    python examples/serve_openai_client.py [WORK_DIR]

Needs: pip install "tunesdk[serve]" tunesdk-trl tunesdk-together openai
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from openai import OpenAI

from tunesdk.testing import tiny_chat_data, tiny_model
from tunesdk_together.emulator import TogetherEmulator

FAST = 0.02  # emulated seconds per training step (and per provider phase)


def fine_tune(client: OpenAI, model: str, training: Path) -> None:
    """Upload, fine-tune, follow the events, list checkpoints, chat: plain OpenAI SDK calls."""
    upload = client.files.create(file=training.open("rb"), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        model=model,
        training_file=upload.id,
        method={
            "type": "supervised",
            "supervised": {"hyperparameters": {"n_epochs": 1, "batch_size": 8}},
        },
        # Job fields OpenAI's shape has no words for (optional): keep the demo short
        extra_body={"tunesdk": {"max_steps": 3, "max_seq_length": 64}},
    )
    print(f"  job {job.id}: {job.status}")
    while job.status not in ("succeeded", "failed", "cancelled"):
        time.sleep(0.5)
        job = client.fine_tuning.jobs.retrieve(job.id)
    for event in reversed(client.fine_tuning.jobs.list_events(job.id, limit=100).data):
        print(f"  [{event.level}] {event.message}")
    print(f"  status: {job.status}")
    if job.status != "succeeded" or job.fine_tuned_model is None:
        raise SystemExit(f"the job did not succeed: {job.error}")
    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
    print(f"  checkpoints: {[c.step_number for c in checkpoints]}")
    print(f"  fine_tuned_model: {job.fine_tuned_model}")
    reply = client.chat.completions.create(
        model=job.fine_tuned_model,
        messages=[{"role": "user", "content": "What does the cat say?"}],
        max_tokens=8,
    )
    print(f"  chat: {reply.choices[0].message.content!r}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(home: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """`tunesdk serve` in a child process; returns it and the base URL once it answers."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tunesdk", "serve", "--port", str(port), "--home", str(home)],
        env={**os.environ, **env},
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{base_url}/files", timeout=1)
            return server, base_url
        except httpx.TransportError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("tunesdk serve did not start") from None
            time.sleep(0.2)


def main(work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    training = work / "train.jsonl"
    training.write_text("".join(json.dumps(row) + "\n" for row in tiny_chat_data(16)))
    base_model = tiny_model(work / "tiny-model")

    with TogetherEmulator(
        seconds_per_step=FAST, pending_s=FAST, queued_s=FAST, compress_s=FAST, upload_s=FAST
    ) as together:
        # the provider's key and URL live in the server's environment only
        server_env = {**together.env("together-key-of-the-server"), "TUNESDK_POLL_INTERVAL": "0.05"}
        server, base_url = start_server(work / "home", server_env)
        try:
            client = OpenAI(base_url=base_url, api_key="unused-on-loopback")
            print("trl (the server's default backend):")
            fine_tune(client, str(base_model), training)
            print("together (one argument changed):")
            fine_tune(client, "together:meta-llama/Llama-3.1-8B-Instruct", training)
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="tunesdk-")))
