"""``tunesdk demo``: the embedded default job, offline.

1. builds a tiny random-weight Llama model and a synthetic chat task locally,
2. fine-tunes it with LoRA on the ``trl`` backend (``simulated`` when tunesdk-trl is not installed),
3. sends the *same* Job to the Together AI emulator (the real ``together`` SDK over HTTP on
   127.0.0.1), only the base model id differing through a ModelRef,
4. chats with both results.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from unittest.mock import patch

from rich.console import Console

from tunesdk.events import Progress
from tunesdk.job import Job, ModelRef
from tunesdk.methods import LoRA
from tunesdk.models import ProviderModel
from tunesdk.registry import get_backend, installed_names
from tunesdk.run import Result

console = Console(emoji=False)  # model ids may hold ':name:' pairs


def _local_backend() -> str:
    if "trl" in installed_names() and get_backend("trl").check().usable:
        return "trl"
    return "simulated"


def _data(folder: Path) -> Path:
    try:
        from tunesdk.testing import tiny_chat_data

        rows = tiny_chat_data(64)
    except ImportError:
        rows = [
            {
                "messages": [
                    {"role": "user", "content": f"What is {i} plus {i}?"},
                    {"role": "assistant", "content": f"{i} plus {i} is {2 * i}."},
                ]
            }
            for i in range(64)
        ]
    path = folder / "train.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _summary(result: Result) -> str:
    """One line: how the train loss moved, the eval loss, steps and time."""
    losses = [
        e.train_loss
        for e in result.events()
        if isinstance(e, Progress) and e.train_loss is not None
    ]
    parts = []
    if losses:
        parts.append(f"train loss {losses[0]:.3f} → {losses[-1]:.3f}")
    if "eval_loss" in result.metrics:
        parts.append(f"eval loss {result.metrics['eval_loss']:.3f}")
    if "steps" in result.metrics:
        parts.append(f"{int(result.metrics['steps'])} steps")
    if "runtime_s" in result.metrics:
        parts.append(f"{result.metrics['runtime_s']:.1f} s")
    return ", ".join(parts)


def _quiet_transformers() -> None:
    """No weight-loading progress bars or deprecation chatter from inside the libraries."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)


def run_demo(home: Path | None = None) -> None:
    """Run the demo; runs go to ``home`` (default: a temporary folder)."""
    work = Path(home) if home else Path(tempfile.mkdtemp(prefix="tunesdk-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ["TUNESDK_HOME"] = str(work)
    backend = _local_backend()
    _quiet_transformers()
    model_path = work / "tiny-llama"
    if backend == "trl":
        from tunesdk.testing import tiny_model

        console.print("building a tiny random-weight Llama and tokenizer locally...")
        tiny_model(model_path)
    data = _data(work)
    job = Job(
        model=ModelRef(name=str(model_path), ids={"together": "Qwen/Qwen2.5-0.5B-Instruct"}),
        data=data,
        eval_split=0.1,
        method=LoRA(r=8),
        epochs=6,
        batch_size=8,
        max_seq_length=128,
        learning_rate=1e-2,  # high: the tiny model starts from random weights
    )
    console.rule(f"1. local fine-tune on {backend!r}")
    local = job.run(backend=backend)
    console.print(
        f"model: {local.model.to_uri() if local.model else '-'}", markup=False, soft_wrap=True
    )
    console.print(_summary(local))
    if local.model is not None:
        question = [{"role": "user", "content": "What does the owl say?"}]
        reply = local.model.chat(question, max_new_tokens=12)
        console.print(f"chat: {reply!r}", markup=False, soft_wrap=True)

    if "together" not in installed_names():
        console.print("tunesdk-together is not installed: skipping the provider half")
        return
    from tunesdk.emulation import emulator_for

    console.rule("2. the same job on Together AI (emulator on 127.0.0.1)")
    os.environ.setdefault("TUNESDK_POLL_INTERVAL", "0.1")
    with (
        emulator_for("together")(seconds_per_step=0.02) as emulator,  # found via the registry
        patch.dict(os.environ, emulator.env()),  # TOGETHER_BASE_URL/_API_KEY, restored after
    ):
        remote = job.run(backend="together")
        console.print(
            f"model: {remote.model.to_uri() if remote.model else '-'}", markup=False, soft_wrap=True
        )
        console.print(_summary(remote) + " (simulated training)")
        if isinstance(remote.model, ProviderModel):
            console.print("deploying (Together serves fine-tunes of this base on an endpoint)...")
            served = remote.model.deploy()
            reply = served.chat([{"role": "user", "content": "What does the owl say?"}])
            console.print(f"chat: {reply!r}", markup=False, soft_wrap=True)
    console.print(
        f"runs are in {work / 'runs'} (see `TUNESDK_HOME={work} tunesdk runs`)", soft_wrap=True
    )
