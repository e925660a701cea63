"""The public API end to end: job.run(backend="unsloth") spawns the worker, whose `unsloth` is the
test-only stand-in (on its PYTHONPATH); then the handle's chat, merge and GGUF export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import tunesdk as ts
from tunesdk.errors import BackendUnavailable, JobError, TuneError
from tunesdk.events import Completed, Progress
from tunesdk.testing import tiny_chat_data
from tunesdk_unsloth import UnslothBackend
from tunesdk_unsloth.environment import ASSUME_GPU_ENV

QUESTION = [{"role": "user", "content": "hi"}]


@pytest.fixture
def trained(fake_unsloth: Any, tiny_model_path: Path) -> ts.LocalModel:
    job = ts.Job(
        model=str(tiny_model_path),
        data=tiny_chat_data(16),
        eval_split=0.25,
        method=ts.LoRA(r=4),
        batch_size=4,
        max_seq_length=64,
        max_steps=3,
        learning_rate=5e-3,
    )
    seen: list[object] = []
    result = job.run(backend="unsloth", progress=False, on_event=seen.append)
    assert any(isinstance(e, Progress) for e in seen) and isinstance(seen[-1], Completed)
    assert "eval_loss" in result.metrics
    # the worker imported unsloth before transformers, peft and trl, as Unsloth requires
    (imported,) = fake_unsloth.calls("import")
    assert imported["already_imported"] == []
    model = result.model
    assert isinstance(model, ts.LocalModel) and model.engine == "unsloth"
    return model


def test_run_then_chat_merge_and_gguf_through_the_handle(
    trained: ts.LocalModel, fake_unsloth: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert isinstance(trained.chat(QUESTION, max_new_tokens=3), str)
    assert fake_unsloth.calls("for_inference")  # Unsloth's fast inference where it can run

    merged = trained.merge(tmp_path / "merged")
    assert merged.kind == "merged" and merged.engine == "unsloth"
    (call,) = fake_unsloth.calls("save_pretrained_merged")
    assert call["save_method"] == "merged_16bit"
    _same_logits(trained, Path(merged.path))

    backend = UnslothBackend()
    with pytest.raises(JobError, match="q9_z"):
        trained.export_gguf(tmp_path / "gguf", quantization="q9_z")
    files = trained.export_gguf(tmp_path / "gguf")
    assert [f.suffix for f in files] == [".gguf"] and files[0].read_bytes().startswith(b"GGUF")
    (call,) = fake_unsloth.calls("save_pretrained_gguf")
    assert call["quantization_method"] == "q4_k_m"

    # a model trained by another local backend: refused by its own engine, converted by unsloth's
    from_trl = trained.model_copy(update={"engine": "trl"})
    with pytest.raises(TuneError, match="GGUF export is not available") as refused:
        from_trl.export_gguf(tmp_path / "gguf-trl")
    assert 'engine="unsloth"' in (refused.value.fix or "")
    assert from_trl.export_gguf(tmp_path / "gguf-trl", engine="unsloth")

    # the same handle on a machine without a GPU: PEFT merge, and GGUF export refused
    import torch

    if torch.cuda.is_available():
        return
    monkeypatch.delenv(ASSUME_GPU_ENV)
    fallback = trained.merge(tmp_path / "merged-on-cpu")
    assert fallback.kind == "merged" and fallback.engine == "unsloth"
    assert len(fake_unsloth.calls("save_pretrained_merged")) == 1  # not called again
    _same_logits(trained, Path(fallback.path))
    with pytest.raises(BackendUnavailable, match="save_pretrained_gguf, which needs an NVIDIA"):
        backend.export_gguf(trained, tmp_path / "gguf-on-cpu")
    assert len(fake_unsloth.calls("save_pretrained_gguf")) == 2  # the two exports above


def _same_logits(adapter: ts.LocalModel, merged: Path) -> None:
    """The merged folder loads with plain transformers and matches base + adapter."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    assert adapter.base_model is not None
    base = AutoModelForCausalLM.from_pretrained(adapter.base_model)
    reference = PeftModel.from_pretrained(base, adapter.path).eval()
    standalone = AutoModelForCausalLM.from_pretrained(str(merged)).eval()
    ids = torch.tensor([[1, 5, 9, 14, 30]])
    with torch.no_grad():
        expected, got = reference(ids).logits, standalone(ids).logits
    assert torch.allclose(expected, got, atol=1e-5)
