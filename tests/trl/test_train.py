"""Real CPU training of the tiny model through TRLBackend.train (the worker's call)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import tunesdk as ts
from tunesdk.errors import DataError, JobError, RunCancelled
from tunesdk.events import Checkpoint, Log, Progress
from tunesdk.store import RunRecord
from tunesdk.testing import tiny_chat_data, tiny_job, tiny_preference_data, train_losses
from tunesdk_trl import TRLBackend

MakeRecord = Callable[[ts.Job], RunRecord]

QUESTION = [{"role": "user", "content": "What does the cat say?"}]


def test_sft_lora_loss_goes_down_and_events_are_complete(
    tiny_model_path: Path, tmp_path: Path, make_record: MakeRecord
) -> None:
    record = make_record(tiny_job(tiny_model_path, method=ts.LoRA(r=8, use_dora=True)))
    handle = TRLBackend().train(record)
    progress = [e for e in record.events() if isinstance(e, Progress)]
    assert [p.step for p in progress] == list(range(1, 9))
    assert all(p.total_steps == 8 for p in progress)
    assert progress[-1].epoch == pytest.approx(2.0)
    assert all(p.grad_norm is not None and p.learning_rate is not None for p in progress)
    assert progress[-1].tokens_per_second and progress[-1].eta_s == 0
    values = train_losses(record.events())
    assert sum(values[-2:]) / 2 < sum(values[:2]) / 2
    checkpoints = [e for e in record.events() if isinstance(e, Checkpoint)]
    assert [c.step for c in checkpoints] == [4, 8] and Path(checkpoints[-1].path or "").is_dir()
    assert handle.kind == "adapter" and handle.engine == "trl"
    adapter = json.loads((Path(handle.path) / "adapter_config.json").read_text())
    assert adapter["use_dora"] is True and adapter["peft_type"] == "LORA"
    assert ts.load_model(handle.to_uri()) == handle  # metadata written next to the weights
    assert isinstance(handle.chat(QUESTION, max_new_tokens=4), str)


def test_merge_gives_the_same_logits(
    tiny_model_path: Path, tmp_path: Path, make_record: MakeRecord
) -> None:
    record = make_record(tiny_job(tiny_model_path, epochs=1))
    handle = TRLBackend().train(record)
    merged = handle.merge(tmp_path / "merged")
    assert merged.kind == "merged" and (tmp_path / "merged" / "config.json").exists()
    adapter_model, tokenizer = handle.load()
    merged_model, _ = merged.load()
    ids = tokenizer.apply_chat_template(QUESTION, return_tensors="pt", return_dict=True)[
        "input_ids"
    ]
    with torch.no_grad():
        expected = adapter_model(input_ids=ids).logits
        actual = merged_model(input_ids=ids).logits
    assert torch.allclose(expected, actual, atol=1e-4)
    base = TRLBackend().load(ts.LocalModel(path=str(tiny_model_path), kind="full"))[0]
    with torch.no_grad():
        assert not torch.allclose(base(input_ids=ids).logits, actual, atol=1e-4)


def test_dpo_lora_trains(tiny_model_path: Path, tmp_path: Path, make_record: MakeRecord) -> None:
    job = tiny_job(tiny_model_path, data=tiny_preference_data(8), epochs=1, max_steps=2)
    record = make_record(job)
    handle = TRLBackend().train(record)
    assert record.job.infer_objective() == "dpo"
    assert len(train_losses(record.events())) == 2
    assert handle.kind == "adapter" and (Path(handle.path) / "adapter_model.safetensors").exists()


def test_full_fine_tuning_saves_a_full_model(
    tiny_model_path: Path, tmp_path: Path, make_record: MakeRecord
) -> None:
    job = tiny_job(tiny_model_path, method=ts.Full(), max_steps=2, learning_rate=1e-3)
    handle = TRLBackend().train(make_record(job))
    assert handle.kind == "full" and (Path(handle.path) / "config.json").exists()
    with pytest.raises(JobError, match="nothing to merge"):
        handle.merge(tmp_path / "again")


def test_prefix_tuning_trains_an_unmergeable_adapter(
    tiny_model_path: Path, tmp_path: Path, make_record: MakeRecord
) -> None:
    job = tiny_job(tiny_model_path, method=ts.PrefixTuning(num_virtual_tokens=4), max_steps=2)
    record = make_record(job)
    handle = TRLBackend().train(record)
    config = json.loads((Path(handle.path) / "adapter_config.json").read_text())
    assert config["peft_type"] == "PREFIX_TUNING" and config["num_virtual_tokens"] == 4
    assert len(train_losses(record.events())) == 2
    with pytest.raises(JobError, match="only LoRA"):
        handle.merge(tmp_path / "merged")


def test_missing_model_path_fails_before_training(tmp_path: Path, make_record: MakeRecord) -> None:
    job = tiny_job(tmp_path / "no-such-model")
    backend = TRLBackend()
    with pytest.raises(JobError, match="no model at") as info:
        backend.preflight(job, backend.plan(job))
    assert info.value.where == "job.model"
    with pytest.raises(JobError, match="no model at"):
        backend.train(make_record(job))


def test_all_examples_over_max_seq_length_is_a_data_error(
    tiny_model_path: Path, tmp_path: Path, make_record: MakeRecord
) -> None:
    record = make_record(tiny_job(tiny_model_path, max_seq_length=8))
    with pytest.raises(DataError, match=r"all 16 examples .* longer than max_seq_length=8") as info:
        TRLBackend().train(record)
    assert "raise max_seq_length to at least" in (info.value.fix or "")
    assert not list((record.outputs_dir).iterdir())  # nothing trained or saved


def test_some_examples_over_max_seq_length_are_cut_with_a_warning(
    tiny_model_path: Path, tmp_path: Path, make_record: MakeRecord
) -> None:
    long = [
        {
            "messages": [
                {"role": "user", "content": "hi " * 60},
                {"role": "assistant", "content": "yes"},
            ]
        }
    ]
    job = tiny_job(tiny_model_path, data=tiny_chat_data(4) + long, max_steps=1)
    record = make_record(job)
    TRLBackend().train(record)
    warnings = [e.message for e in record.events() if isinstance(e, Log) and e.level == "warning"]
    assert any("1 of 5 examples" in w for w in warnings)
    assert any("dropped" in w for w in warnings)


def test_unknown_target_module_names_the_real_ones(
    tiny_model_path: Path, tmp_path: Path, make_record: MakeRecord
) -> None:
    job = tiny_job(tiny_model_path, method=ts.LoRA(target_modules=["q_proj", "query_key_value"]))
    backend = TRLBackend()
    with pytest.raises(JobError, match=r"\['query_key_value'\] are not in the model") as info:
        backend.preflight(job, backend.plan(job))
    assert "q_proj" in info.value.message and "down_proj" in info.value.message
    with pytest.raises(JobError, match="query_key_value"):
        backend.train(make_record(job))


def test_cancel_stops_at_the_next_step_with_a_checkpoint(
    tiny_model_path: Path, tmp_path: Path, make_record: MakeRecord
) -> None:
    record = make_record(tiny_job(tiny_model_path))
    record.mark_cancel_requested()
    with pytest.raises(RunCancelled):
        TRLBackend().train(record)
    assert [e.step for e in record.events() if isinstance(e, Progress)] == [1]
    checkpoint = [e for e in record.events() if isinstance(e, Checkpoint)]
    assert checkpoint and Path(checkpoint[0].path or "").is_dir()


def test_resume_continues_from_the_checkpoint(
    tiny_model_path: Path, tmp_path: Path, make_record: MakeRecord
) -> None:
    first = make_record(tiny_job(tiny_model_path, epochs=1))
    TRLBackend().train(first)
    checkpoint = [e for e in first.events() if isinstance(e, Checkpoint)][-1]
    second = make_record(tiny_job(tiny_model_path, epochs=2))
    second.update_state(resume_from=checkpoint.path)
    TRLBackend().train(second)
    assert [e.step for e in second.events() if isinstance(e, Progress)] == [5, 6, 7, 8]


def test_bf16_without_a_gpu_is_a_clear_error(
    tiny_model_path: Path, make_record: MakeRecord
) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    job = tiny_job(tiny_model_path, resources=ts.Resources(mixed_precision="bf16"))
    backend = TRLBackend()
    with pytest.raises(JobError, match="no CUDA GPU") as info:
        backend.preflight(job, backend.plan(job))
    assert info.value.where == "job.resources.mixed_precision"


def test_full_fine_tuning_keeps_fp32_master_weights_of_a_bf16_checkpoint(
    tiny_model_path: Path, tmp_path: Path
) -> None:
    """A bf16 checkpoint (as most hub models are) is trained fully in fp32, not in pure bf16,
    while LoRA leaves the frozen base in the checkpoint's dtype."""
    import torch
    from transformers import AutoModelForCausalLM

    from tunesdk_trl.modeling import ModelLoader
    from tunesdk_trl.plan import native_for

    bf16_path = tmp_path / "bf16"
    AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype=torch.bfloat16).save_pretrained(
        bf16_path
    )
    for method, dtype in ((ts.Full(), torch.float32), (ts.LoRA(r=4), torch.bfloat16)):
        job = ts.Job(model=str(bf16_path), data=tiny_chat_data(4), method=method)
        model = ModelLoader(native_for(job, "sft")).load_model(tokenizer=None)
        assert {p.dtype for p in model.parameters()} == {dtype}
    assert any(
        "float32" in note
        for note in ts.Job(model=str(bf16_path), data=tiny_chat_data(4), method=ts.Full())
        .plan("trl")
        .notes
    )
