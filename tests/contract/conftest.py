"""One ``Harness`` per backend: a small valid job, how to tell that nothing was spent, and the
backend's quirks the contract tests must not know about.

``harness`` is parametrised over every backend and scoped to the test module, so each module
starts each emulator (or builds the tiny model) once. A test narrows the backends with
``@pytest.mark.parametrize("harness", [...], indirect=True)``.

To hold a new backend to the contract, add its name to ``ALL`` and its facts to ``_harness``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import tunesdk as ts
from tunesdk.run import Run
from tunesdk.store import RunStore
from tunesdk.testing import tiny_chat_data

MANAGED = ("openai", "together", "fireworks")
ALL = ("simulated", *MANAGED, "trl")


@dataclass
class Harness:
    """A backend under test, pointed at its emulator (managed) or the tiny model (trl)."""

    name: str
    folder: Path
    fields: dict[str, Any]
    #: one option this backend cannot honour, as Job fields
    dropped: dict[str, Any]
    #: Job fields for a run that lasts long enough to cancel (with ``slow()`` on emulators)
    long_fields: dict[str, Any] = field(default_factory=dict)
    provider: Any = None
    #: emulated chat quotes the last user message back; the tiny trl model says anything
    echoes: bool = True
    #: generation options for chat() (local engines take transformers' generate() options)
    generation: dict[str, Any] = field(default_factory=dict)

    def job(self, rows: list[dict[str, Any]] | None = None, **fields: Any) -> ts.Job:
        """A small valid job for this backend; ``rows`` replace its data, ``fields`` override."""
        if rows is not None:
            fields["data"] = str(self.write("train.jsonl", rows))
        return ts.Job(**(self.fields | fields))

    def long_job(self) -> ts.Job:
        return self.job(**self.long_fields)

    def write(self, name: str, rows: list[dict[str, Any]]) -> Path:
        return _write_jsonl(self.folder / name, rows)

    def spent(self) -> int:
        """Requests the provider received plus runs created (a local worker starts per run)."""
        requests = len(self.provider.requests) if self.provider is not None else 0
        return requests + len(RunStore().list())

    def servable(self, model: ts.ModelHandle) -> ts.ModelHandle:
        """A handle that answers chat: Fireworks serves a tuned model only once deployed."""
        if self.name == "fireworks":
            assert isinstance(model, ts.ProviderModel)
            return model.deploy()
        return model

    @contextmanager
    def slow(self) -> Iterator[None]:
        """Emulated training slow enough that a cancel lands mid-run."""
        if self.provider is None:
            yield
            return
        before = self.provider.set_seconds_per_step(0.2)
        try:
            yield
        finally:
            self.provider.set_seconds_per_step(before)

    def stop_leftovers(self) -> None:
        """Cancel runs a failing test left behind, so no worker outlives the test session."""
        for record in RunStore().list():
            if not record.terminal:
                Run.attach(record.run_id).cancel(timeout=10)


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _harness(name: str, folder: Path, model_path: Path | None, provider: Any) -> Harness:
    """The per-backend facts: a small valid job, an option it drops, what makes a run long."""

    def data(n: int) -> str:
        """``n`` chat examples in the OpenAI ``messages`` shape, which every backend reads."""
        return str(_write_jsonl(folder / f"train-{n}.jsonl", tiny_chat_data(n)))

    # name: (job fields, an option the backend drops, fields of a long run)
    facts: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = {
        "simulated": (
            {"model": "tiny/model", "data": data(16), "max_steps": 6},
            {"weight_decay": 0.05},
            {"max_steps": 400, "backend_options": {"simulated": {"step_seconds": 0.05}}},
        ),
        "openai": (
            {"model": "gpt-4o-mini-2024-07-18", "data": data(12), "epochs": 2, "batch_size": 4},
            {"weight_decay": 0.05},
            {"data": data(40), "batch_size": 1},
        ),
        "together": (
            {"model": "meta-llama/Llama-3.1-8B-Instruct", "data": data(16), "epochs": 2},
            {"output_dir": str(folder / "out")},
            {"data": data(64)},
        ),
        "fireworks": (
            {"model": "Qwen/Qwen2.5-7B-Instruct", "data": data(8), "epochs": 2, "batch_size": 2},
            {"max_grad_norm": 0.5},
            {"data": data(16), "batch_size": 1},
        ),
        "trl": (
            {
                "model": str(model_path),
                "data": data(12),
                "method": ts.LoRA(r=4),
                "batch_size": 4,
                "max_seq_length": 64,
                "max_steps": 3,
            },
            {"suffix": "bot"},
            {},
        ),
    }
    fields, dropped, long_fields = facts[name]
    if name == "trl":
        return Harness(
            name, folder, fields, dropped, echoes=False, generation={"max_new_tokens": 4}
        )
    return Harness(name, folder, fields, dropped, long_fields, provider)


@pytest.fixture(scope="module", params=ALL)
def harness(
    request: pytest.FixtureRequest, providers: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    name: str = request.param
    folder = tmp_path_factory.mktemp(f"contract-{name}")
    with ExitStack() as stack, pytest.MonkeyPatch.context() as monkeypatch:
        provider = stack.enter_context(providers.start(name)) if name in MANAGED else None
        if provider is not None:
            provider.wire(monkeypatch, folder / "home")
        else:
            monkeypatch.setenv("TUNESDK_HOME", str(folder / "home"))
            monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        monkeypatch.setenv("TUNESDK_POLL_INTERVAL", "0.02")
        model = request.getfixturevalue("tiny_model_path") if name == "trl" else None
        harness = _harness(name, folder, model, provider)
        yield harness
        harness.stop_leftovers()
