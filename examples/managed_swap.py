"""One Job, three managed providers: Together AI, then Fireworks AI, then OpenAI — offline.

Each provider backend ships an emulator: a real HTTP server on 127.0.0.1 that speaks that
provider's API. The official SDKs (`together`, `fireworks-ai`, `openai`) talk to it exactly as they
would talk to the provider, so this script exercises the same upload → create → poll → model path
as a real run, for free. Point at the real services by setting the API keys instead (see the
getting-started page) and dropping the emulators.

    python examples/managed_swap.py [WORK_DIR]

Needs: pip install tunesdk tunesdk-together tunesdk-fireworks tunesdk-openai
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import tunesdk as ts
from tunesdk_fireworks.emulator import FireworksEmulator
from tunesdk_openai.emulator import OpenAIEmulator
from tunesdk_together.emulator import TogetherEmulator

FAST = 0.02  # emulated seconds per training step (and per queue/validation phase)


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set environment variables for the duration of a block (how a user points a backend)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def show(result: ts.Result) -> None:
    print(f"  model: {result.model.to_uri() if result.model else None}")
    print(f"  metrics: {result.metrics}")


def main(work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    data = work / "train.jsonl"
    rows = [
        {
            "messages": [
                {"role": "system", "content": "You are a support bot. Answer in one sentence."},
                {"role": "user", "content": f"Where is order #{1000 + i}?"},
                {"role": "assistant", "content": f"Order #{1000 + i} ships tomorrow."},
            ]
        }
        for i in range(24)
    ]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))

    # Together and Fireworks both know this Hugging Face id; OpenAI trains its own models only, so
    # a ModelRef names the OpenAI model to use for this job.
    job = ts.Job(
        model=ts.ModelRef(
            name="meta-llama/Llama-3.1-8B-Instruct", ids={"openai": "gpt-4.1-mini-2025-04-14"}
        ),
        data=data,
        method=ts.LoRA(r=16),
        epochs=2,
        batch_size=8,
        learning_rate=1e-4,
        suffix="support",
    )

    # The plans differ per provider; nothing is sent to make them.
    for backend in ("together", "fireworks", "openai"):
        plan = job.plan(backend)
        dropped = ", ".join(f"{row.option} ({row.reason})" for row in plan.dropped) or "none"
        print(f"plan {backend}: model {plan.model}; dropped: {dropped}")

    os.environ.setdefault("TUNESDK_POLL_INTERVAL", "0.05")  # the emulators answer in milliseconds

    print("together:")
    with (
        TogetherEmulator(
            seconds_per_step=FAST, pending_s=FAST, queued_s=FAST, compress_s=FAST, upload_s=FAST
        ) as emulator,
        environment(**emulator.env("emulated-key")),
    ):
        result = job.run(backend="together")
        show(result)
        assert isinstance(result.model, ts.ProviderModel)
        # Llama 3.1 8B Instruct LoRAs are served serverless on Together: chat right away.
        print("  chat:", result.model.chat([{"role": "user", "content": "Where is order #7?"}]))

    print("fireworks:")
    with (
        FireworksEmulator(seconds_per_step=FAST, phase_s=FAST, deploy_s=FAST) as emulator,
        environment(
            FIREWORKS_BASE_URL=emulator.base_url,
            FIREWORKS_API_KEY="emulated-key",
            FIREWORKS_ACCOUNT_ID="my-account",
        ),
    ):
        result = job.run(backend="fireworks")
        show(result)
        assert isinstance(result.model, ts.ProviderModel)
        served = result.model.deploy()  # a Fireworks LoRA needs a deployment before chat()
        print("  chat:", served.chat([{"role": "user", "content": "Where is order #7?"}]))

    print("openai:")
    with (
        OpenAIEmulator(seconds_per_step=FAST, validate_s=FAST, queue_s=FAST) as emulator,
        environment(OPENAI_BASE_URL=emulator.base_url, OPENAI_API_KEY="sk-emulated"),
    ):
        result = job.run(backend="openai")
        show(result)
        assert isinstance(result.model, ts.ProviderModel)
        print("  chat:", result.model.chat([{"role": "user", "content": "Where is order #7?"}]))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="tunesdk-")))
