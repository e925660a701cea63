"""Fixtures: an isolated run store and a fake chat backend whose models answer from a table."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tunesdk.backend import Backend
from tunesdk.models import Messages, ModelHandle, ProviderModel
from tunesdk.registry import register_backend

Reply = Callable[[Messages], str]


class FakeChatBackend(Backend):
    """Serves ProviderModel(provider="fakechat", model_id=...) with a Python function per model,
    and records every call (messages and generation options)."""

    name = "fakechat"
    kind = "managed"
    replies: ClassVar[dict[str, Reply]] = {}
    calls: ClassVar[list[tuple[str, Messages, dict[str, Any]]]] = []

    def chat(self, model: ModelHandle, messages: Messages, **generation: Any) -> str:
        model_id = model.model_id if isinstance(model, ProviderModel) else Path(model.path).name
        self.calls.append((model_id, messages, generation))
        return self.replies[model_id](messages)


@pytest.fixture(autouse=True)
def tunesdk_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("TUNESDK_HOME", str(home))
    monkeypatch.setenv("TUNESDK_POLL_INTERVAL", "0.02")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


@pytest.fixture
def fake_models() -> Iterator[Callable[[str, Reply], ProviderModel]]:
    """``make(model_id, reply)``: a handle whose chat() answers ``reply(messages)``."""
    register_backend("fakechat", FakeChatBackend)
    FakeChatBackend.replies.clear()
    FakeChatBackend.calls.clear()

    def make(model_id: str, reply: Reply) -> ProviderModel:
        FakeChatBackend.replies[model_id] = reply
        return ProviderModel(provider="fakechat", model_id=model_id)

    yield make
    FakeChatBackend.replies.clear()
    FakeChatBackend.calls.clear()


def last_user(messages: Messages) -> str:
    return next(str(m["content"]) for m in reversed(messages) if m["role"] == "user")
