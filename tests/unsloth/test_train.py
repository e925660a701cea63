"""UnslothBackend.train (the worker's call) on CPU, Unsloth replaced by the test-only stand-in.

The stand-in records every call, so these tests assert exactly what tunesdk passed to Unsloth and
that the shared TRL glue (data, labels, events, checkpoints, handle) ran around it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import tunesdk as ts
from tunesdk.events import Checkpoint, Progress
from tunesdk.store import RunRecord, RunStore
from tunesdk.testing import tiny_job, tiny_preference_data, train_losses
from tunesdk_trl import TRLBackend
from tunesdk_unsloth import UnslothBackend

MakeRecord = Callable[[ts.Job], RunRecord]


def test_sft_lora_passes_the_planned_kwargs_to_unsloth_and_trains(
    fake_unsloth: Any, tiny_model_path: Path, make_record: MakeRecord
) -> None:
    record = make_record(tiny_job(tiny_model_path))
    handle = UnslothBackend().train(record)

    planned = UnslothBackend().plan(record.job).native
    (loaded,) = fake_unsloth.calls("from_pretrained")
    assert {"model_name": loaded["model_name"], **loaded["kwargs"]} == planned["from_pretrained"]
    assert loaded["kwargs"]["load_in_4bit"] is False and loaded["kwargs"]["dtype"] is None
    (peft,) = fake_unsloth.calls("get_peft_model")
    assert peft["kwargs"] == planned["get_peft_model"]

    progress = [e for e in record.events() if isinstance(e, Progress)]
    assert [p.step for p in progress] == list(range(1, 9))
    values = train_losses(record.events())
    assert sum(values[-2:]) / 2 < sum(values[:2]) / 2
    assert [c.step for c in record.events() if isinstance(c, Checkpoint)] == [4, 8]
    assert handle.kind == "adapter" and handle.engine == "unsloth"
    adapter = json.loads((Path(handle.path) / "adapter_config.json").read_text())
    assert sorted(adapter["target_modules"]) == sorted(planned["get_peft_model"]["target_modules"])
    assert ts.load_model(handle.to_uri()) == handle


def test_data_and_labels_are_the_trl_backends(
    fake_unsloth: Any, tiny_model_path: Path, tmp_path: Path
) -> None:
    """LoRA's B starts at zero, so the first step's loss is the base model's on the same batch:
    equal losses mean the same examples, template and assistant-only labels as the trl backend."""
    job = tiny_job(tiny_model_path, max_steps=1, epochs=1)
    first = {}
    for name, backend in (("trl", TRLBackend()), ("unsloth", UnslothBackend())):
        record = RunStore(tmp_path / name).create(job, backend.plan(job), name)
        backend.train(record)
        first[name] = train_losses(record.events())[0]
    assert first["unsloth"] == pytest.approx(first["trl"], abs=1e-6)
    inputs = job.model_copy(update={"train_on_inputs": True})
    record = RunStore(tmp_path / "inputs").create(inputs, UnslothBackend().plan(inputs), "unsloth")
    UnslothBackend().train(record)
    assert train_losses(record.events())[0] != pytest.approx(first["unsloth"], abs=1e-6)


def test_dpo_lora(fake_unsloth: Any, tiny_model_path: Path, make_record: MakeRecord) -> None:
    job = tiny_job(tiny_model_path, data=tiny_preference_data(8), max_steps=2, epochs=1)
    handle = UnslothBackend().train(make_record(job))
    assert handle.kind == "adapter" and handle.engine == "unsloth"
    assert len(fake_unsloth.calls("get_peft_model")) == 1


def test_full_fine_tuning_skips_get_peft_model(
    fake_unsloth: Any, tiny_model_path: Path, make_record: MakeRecord
) -> None:
    job = tiny_job(tiny_model_path, method=ts.Full(), max_steps=2, epochs=1, learning_rate=1e-4)
    handle = UnslothBackend().train(make_record(job))
    (loaded,) = fake_unsloth.calls("from_pretrained")
    assert loaded["kwargs"]["full_finetuning"] is True
    assert not fake_unsloth.calls("get_peft_model")
    assert handle.kind == "full" and (Path(handle.path) / "config.json").exists()


def test_qlora_asks_unsloth_for_4bit_loading(
    fake_unsloth: Any, tiny_model_path: Path, make_record: MakeRecord
) -> None:
    job = tiny_job(tiny_model_path, method=ts.QLoRA(r=8, compute_dtype="float32"), max_steps=1)
    UnslothBackend().train(make_record(job))
    (loaded,) = fake_unsloth.calls("from_pretrained")
    assert loaded["kwargs"]["load_in_4bit"] is True and loaded["kwargs"]["load_in_8bit"] is False
    assert loaded["kwargs"]["dtype"] == "torch.float32"  # the name became a torch dtype
