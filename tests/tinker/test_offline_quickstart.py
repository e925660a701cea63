"""What the Tinker quickstart meets offline, against the offline server.

- A model trained under a name only the service knows (its tokenizer found through the service,
  ``get_tokenizer``) chats afterwards with that same tokenizer: ``chat()`` used to load the base
  model's name here and fail offline, although training had worked.
- The server's banner says a local model folder is served as it is (it said only "any other
  name: refused", though the quickstart gives a folder as the model).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import tunesdk as ts
from tunesdk.testing import tiny_chat_data
from tunesdk_tinker.emulator import TinkerServer


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNESDK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.tinker credentials of the developer
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the worker's
    import huggingface_hub.constants

    # this process read the variable at import: without this, chat()'s first load retries the hub
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("TUNESDK_POLL_INTERVAL", "0.05")


def test_a_model_trained_with_the_services_tokenizer_chats_with_it(
    tinker_model: str, tinker_env: TinkerServer
) -> None:
    job = ts.Job(
        model=tinker_model,  # "tunesdk/tiny-llama": no tokenizer of that name on this machine
        data=tiny_chat_data(8),
        method=ts.LoRA(r=4),
        batch_size=4,
        max_seq_length=64,
        max_steps=1,
    )
    result = job.run(backend="tinker", progress=False)
    assert result.model is not None
    reply = result.model.chat(
        [{"role": "user", "content": "What does the cat say?"}], max_new_tokens=4
    )
    assert isinstance(reply, str)
    assert (Path(result.run_dir) / "service_tokenizer.txt").is_file()


def test_the_server_banner_says_a_local_folder_is_served(tmp_path: Path) -> None:
    server = TinkerServer(state_dir=tmp_path / "state", device="cpu")
    try:
        banner = server.banner()
    finally:
        server.close()
    assert "a local model folder: served as it is" in banner  # not only "any other name: refused"
    assert "any other name: refused" in banner
