"""Bottleneck adapters (ts.Adapter) on the trl backend: plan, training, saving, reloading, resume."""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import tunesdk as ts
from tunesdk.errors import JobError
from tunesdk.events import Checkpoint, Progress
from tunesdk.store import RunRecord
from tunesdk.testing import tiny_chat_data, tiny_job, tiny_preference_data, train_losses
from tunesdk_trl import TRLBackend, bottleneck, bottleneck_modules

MakeRecord = Callable[[ts.Job], RunRecord]
QUESTION = [{"role": "user", "content": "What does the cat say?"}]
# the tiny model: 2 decoder layers, hidden size 64; reduction 16 → 4-wide adapters of
# 64·4 + 4 (down) + 4·64 + 64 (up) = 580 parameters each
ADAPTER_PARAMETERS = 580


def _job(model: Path, **method: Any) -> ts.Job:
    return tiny_job(model, method=ts.Adapter(**method), learning_rate=1e-2)


def _base(model: Path) -> Any:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(model))


def _ids(model: Path) -> torch.Tensor:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model))
    encoded = tokenizer.apply_chat_template(QUESTION, return_tensors="pt", return_dict=True)
    return encoded["input_ids"]


def _logits(model: Any, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids).logits


# ---- plan ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("placement", "adapters"), [("pfeiffer", 1), ("houlsby", 2)])
def test_plan_shows_the_settings_and_the_trainable_parameters(
    tiny_model_path: Path, placement: str, adapters: int
) -> None:
    plan = TRLBackend().plan(_job(tiny_model_path, placement=placement, nonlinearity="gelu"))
    native = plan.native["bottleneck"]
    assert native["placement"] == placement and native["nonlinearity"] == "gelu"
    assert native["sublayers"] == (["attention", "mlp"] if adapters == 2 else ["mlp"])
    assert native["bottleneck_size"] == 4
    assert native["trainable_parameters"] == 2 * adapters * ADAPTER_PARAMETERS
    assert plan.native["peft"] is None
    rows = {row.option: row for row in plan.rows}
    assert rows["method.reduction"].native_value == 16
    assert rows["method.placement"].status == "mapped"
    assert any(f"{2 * adapters * ADAPTER_PARAMETERS:,} trainable" in note for note in plan.notes)


def test_plan_without_a_readable_config_defers_the_architecture_check() -> None:
    plan = TRLBackend().plan(
        ts.Job(model="org/not-cached", data=tiny_chat_data(4), method=ts.Adapter())
    )
    assert plan.native["bottleneck"]["reduction"] == 16
    assert any("checked" in note and "worker" in note for note in plan.notes)


def test_unknown_architecture_is_refused_at_plan_time(tmp_path: Path) -> None:
    folder = tmp_path / "gpt2"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_embd": 64}))
    with pytest.raises(JobError, match="model_type 'gpt2'") as info:
        TRLBackend().plan(ts.Job(model=str(folder), data=tiny_chat_data(4), method=ts.Adapter()))
    assert "llama" in str(info.value) and "qwen3" in str(info.value)
    assert info.value.where == "job.method" and "LoRA" in (info.value.fix or "")


def test_unknown_architecture_is_refused_when_the_model_loads() -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50))
    native = bottleneck.settings(ts.Job(model="m", data=tiny_chat_data(2), method=ts.Adapter()))
    assert native is not None
    with pytest.raises(JobError, match="decoder layers of 'gpt2-tiny'"):
        bottleneck_modules.attach(model, native, "gpt2-tiny")


def test_a_reduction_that_leaves_no_bottleneck_is_refused(tiny_model_path: Path) -> None:
    with pytest.raises(JobError, match="hidden size 64") as info:
        TRLBackend().plan(_job(tiny_model_path, reduction=128))
    assert info.value.where == "job.method.reduction"


def test_sharded_strategies_are_refused() -> None:
    job = ts.Job(
        model="m",
        data=tiny_chat_data(4),
        method=ts.Adapter(),
        batch_size=8,
        micro_batch_size=4,
        resources=ts.Resources(processes=2, strategy="fsdp"),
    )
    with pytest.raises(JobError, match="DDP") as info:
        TRLBackend().plan(job)
    assert info.value.where == "job.resources.strategy"


def test_the_name_map_matches_transformers_model_classes() -> None:
    """Every mapped model_type, built on the meta device, has its decoder layers, attention and
    MLP blocks where the map says."""
    from transformers import CONFIG_MAPPING, AutoModelForCausalLM

    small = {"num_hidden_layers": 2, "hidden_size": 32, "intermediate_size": 64, "vocab_size": 64}
    small |= {"num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8}
    for model_type, layout in bottleneck.LAYOUTS.items():
        config = CONFIG_MAPPING[model_type]()
        text = config.get_text_config()
        for key, value in small.items():
            setattr(text, key, value)
        if hasattr(config, "vision_config"):
            config.vision_config.num_hidden_layers = 1
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)
        layers = model.get_submodule(layout.layers)
        assert len(layers) == 2, model_type
        assert isinstance(layers[0].get_submodule(layout.attention), torch.nn.Module)
        assert isinstance(layers[0].get_submodule(layout.mlp), torch.nn.Module)


# ---- the layers ---------------------------------------------------------------------------------


def _native(**method: Any) -> dict[str, Any]:
    native = bottleneck.settings(
        ts.Job(model="m", data=tiny_chat_data(2), method=ts.Adapter(**method))
    )
    assert native is not None
    return native


def test_placements_differ_as_documented(tiny_model_path: Path) -> None:
    counts = {}
    for placement in ("pfeiffer", "houlsby"):
        model = bottleneck_modules.prepare_for_training(
            _base(tiny_model_path), _native(placement=placement), str(tiny_model_path)
        )
        names = {name.split(".")[-1] for name, _ in model.named_modules() if "bottleneck_" in name}
        expected = {"bottleneck_mlp"} | (
            {"bottleneck_attention"} if placement == "houlsby" else set()
        )
        assert names >= expected and not (names & {"bottleneck_attention"} - expected)
        trainable = {name for name, p in model.named_parameters() if p.requires_grad}
        assert trainable and all(".bottleneck_" in name for name in trainable)
        counts[placement] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert counts == {"pfeiffer": 2 * ADAPTER_PARAMETERS, "houlsby": 4 * ADAPTER_PARAMETERS}


def test_new_adapters_leave_the_model_unchanged(tiny_model_path: Path) -> None:
    ids = _ids(tiny_model_path)
    expected = _logits(_base(tiny_model_path), ids)
    model = bottleneck_modules.prepare_for_training(
        _base(tiny_model_path), _native(placement="houlsby"), str(tiny_model_path)
    )
    assert torch.equal(_logits(model, ids), expected)  # zero-initialised up-projections


def test_saved_adapters_reload_with_identical_logits(tiny_model_path: Path, tmp_path: Path) -> None:
    ids = _ids(tiny_model_path)
    model = bottleneck_modules.prepare_for_training(
        _base(tiny_model_path),
        _native(placement="houlsby", nonlinearity="tanh"),
        str(tiny_model_path),
    )
    with torch.no_grad():  # as if trained: every adapter weight non-zero
        for name, parameter in model.named_parameters():
            if ".bottleneck_" in name:
                parameter.normal_(0, 0.5)
    before = _logits(model.eval(), ids)
    assert not torch.allclose(before, _logits(_base(tiny_model_path), ids))
    bottleneck_modules.save(model, tmp_path / "saved", str(tiny_model_path))
    reloaded = bottleneck_modules.load(tmp_path / "saved")
    assert torch.equal(_logits(reloaded, ids), before)


def test_weights_that_do_not_fit_are_a_clear_error(tiny_model_path: Path, tmp_path: Path) -> None:
    pfeiffer = bottleneck_modules.prepare_for_training(
        _base(tiny_model_path), _native(), str(tiny_model_path)
    )
    bottleneck_modules.save(pfeiffer, tmp_path / "pfeiffer", str(tiny_model_path))
    houlsby = bottleneck_modules.prepare_for_training(
        _base(tiny_model_path), _native(placement="houlsby"), str(tiny_model_path)
    )
    with pytest.raises(JobError, match="does not fit"):
        bottleneck_modules.load_weights(houlsby, tmp_path / "pfeiffer")


# ---- training -----------------------------------------------------------------------------------


def test_training_lowers_the_loss_and_saves_only_the_adapters(
    tiny_model_path: Path, make_record: MakeRecord
) -> None:
    record = make_record(_job(tiny_model_path, placement="houlsby", reduction=4))
    handle = TRLBackend().train(record)
    losses = train_losses(record.events())
    assert len(losses) == 8 and sum(losses[-2:]) / 2 < sum(losses[:2]) / 2

    assert handle.kind == "adapter" and handle.engine == "trl"
    folder = Path(handle.path)
    config = json.loads((folder / bottleneck.CONFIG_FILE).read_text())
    assert config["base_model_name_or_path"] == str(tiny_model_path.resolve())
    assert (config["reduction"], config["placement"], config["nonlinearity"]) == (
        4,
        "houlsby",
        "relu",
    )
    assert config["trainable_parameters"] == 8512  # 2 layers × 2 adapters × (64 → 16 → 64)
    from safetensors import safe_open

    with safe_open(str(folder / bottleneck.WEIGHTS_FILE), "pt") as weights:
        keys = list(weights.keys())
    assert len(keys) == 2 * 2 * 4 and all(".bottleneck_" in key for key in keys)
    base_size = (tiny_model_path / "model.safetensors").stat().st_size
    assert (folder / bottleneck.WEIGHTS_FILE).stat().st_size < base_size / 5
    assert (
        not list(folder.glob("model*.safetensors"))
        and not (folder / "adapter_config.json").exists()
    )

    checkpoints = [e for e in record.events() if isinstance(e, Checkpoint)]
    assert checkpoints
    for event in checkpoints:
        saved = {p.name for p in Path(event.path or "").iterdir()}
        assert bottleneck.WEIGHTS_FILE in saved and not any(n.startswith("model") for n in saved)

    # reloaded through the handle: base + trained adapters, different from the base
    assert ts.load_model(handle.to_uri()) == handle
    model, _ = handle.load()
    ids = _ids(tiny_model_path)
    assert not torch.allclose(_logits(model, ids), _logits(_base(tiny_model_path), ids))
    assert isinstance(handle.chat(QUESTION, max_new_tokens=3), str)

    with pytest.raises(JobError, match="add layers") as info:
        handle.merge(folder.parent / "merged")
    assert "LoRA" in (info.value.fix or "")
    assert not (folder.parent / "merged").exists()
    from tunesdk_trl import inference

    with pytest.raises(JobError, match="add layers"):  # the engine-side check says the same
        inference.check_mergeable(handle)


def test_dpo_trains_the_adapters(tiny_model_path: Path, make_record: MakeRecord) -> None:
    """The reference model is the base (TRL loads it from the path), so the loss leaves ln 2."""
    job = tiny_job(
        tiny_model_path,
        data=tiny_preference_data(8),
        method=ts.Adapter(),
        learning_rate=1e-2,
        max_steps=4,
    )
    record = make_record(job)
    handle = TRLBackend().train(record)
    losses = train_losses(record.events())
    assert losses[0] == pytest.approx(math.log(2)) and min(losses[1:]) < math.log(2) - 1e-3
    assert handle.kind == "adapter" and (Path(handle.path) / bottleneck.WEIGHTS_FILE).exists()


def test_a_folder_without_the_handle_file_is_still_read_as_an_adapter(
    tiny_model_path: Path, tmp_path: Path
) -> None:
    model = bottleneck_modules.prepare_for_training(_base(tiny_model_path), _native(), "m")
    bottleneck_modules.save(model, tmp_path / "saved", str(tiny_model_path))
    handle = ts.load_model(f"local:{tmp_path / 'saved'}")
    assert isinstance(handle, ts.LocalModel)
    assert handle.kind == "adapter" and handle.base_model == str(tiny_model_path.resolve())


def test_resume_continues_from_an_adapter_checkpoint(
    tiny_model_path: Path, make_record: MakeRecord
) -> None:
    """Resumed from the step-4 checkpoint, steps 5-8 repeat the uninterrupted run's losses: the
    adapter weights (not only the trainer state) come back."""
    job = _job(tiny_model_path, placement="houlsby")
    first = make_record(job)
    TRLBackend().train(first)
    checkpoint = next(e for e in first.events() if isinstance(e, Checkpoint))
    assert checkpoint.step == 4
    second = make_record(job)
    second.update_state(resume_from=checkpoint.path)
    handle = TRLBackend().train(second)
    assert [e.step for e in second.events() if isinstance(e, Progress)] == [5, 6, 7, 8]
    assert train_losses(second.events()) == pytest.approx(
        train_losses(first.events())[4:], abs=1e-5
    )
    assert (Path(handle.path) / bottleneck.WEIGHTS_FILE).exists()


def test_resume_from_a_folder_without_adapter_weights_is_a_clear_error(
    tiny_model_path: Path, make_record: MakeRecord, tmp_path: Path
) -> None:
    record = make_record(_job(tiny_model_path))
    (tmp_path / "empty").mkdir()
    record.update_state(resume_from=str(tmp_path / "empty"))
    with pytest.raises(JobError, match="no bottleneck adapter weights"):
        TRLBackend().train(record)


# ---- other backends -----------------------------------------------------------------------------

REFUSING = {
    "unsloth": ("tunesdk_unsloth", "Qwen/Qwen2.5-0.5B-Instruct"),
    "axolotl": ("tunesdk_axolotl", "Qwen/Qwen2.5-0.5B-Instruct"),
    "together": ("tunesdk_together", "Qwen/Qwen2.5-0.5B-Instruct"),
    "fireworks": ("tunesdk_fireworks", "meta-llama/Llama-3.1-8B-Instruct"),
    "openai": ("tunesdk_openai", "gpt-4o-mini-2024-07-18"),
}


@pytest.mark.parametrize("backend", sorted(REFUSING))
def test_other_backends_refuse_bottleneck_adapters_in_the_plan(backend: str) -> None:
    package, model = REFUSING[backend]
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} is not installed")
    job = ts.Job(model=model, data=tiny_chat_data(4), method=ts.Adapter())
    with pytest.raises(JobError, match="bottleneck adapters") as info:
        job.plan(backend)
    assert info.value.where == "job.method" and info.value.fix


@pytest.mark.slow
def test_job_run_trains_bottleneck_adapters_in_the_worker(tiny_model_path: Path) -> None:
    job = tiny_job(tiny_model_path, method=ts.Adapter(placement="houlsby"), max_steps=2)
    result = job.run(backend="trl", progress=False)
    model = result.model
    assert isinstance(model, ts.LocalModel) and model.kind == "adapter"
    assert bottleneck.is_bottleneck_folder(model.path)
    assert isinstance(model.chat(QUESTION, max_new_tokens=3), str)
    with pytest.raises(JobError, match="add layers"):
        model.merge(Path(model.path).parent / "merged")
