"""``ProviderModel.download(path)``: Together's weights download becomes a loadable LocalModel."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from together import Together

from tunesdk.errors import TuneError
from tunesdk.models import LocalModel, ProviderModel, load_model
from tunesdk_together.emulator import TogetherEmulator

SERVERLESS = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"


def finished_job(client: Together, train: Path, **overrides: Any) -> ProviderModel:
    file_id = client.files.upload(file=train, purpose="fine-tune").id
    arguments: dict[str, Any] = {
        "training_file": file_id,
        "model": SERVERLESS,
        "batch_size": 8,
        "lora": True,
        "lora_r": 4,
        "train_on_inputs": False,
        **overrides,
    }
    job: Any = client.fine_tuning.create(**arguments)
    while (job := client.fine_tuning.retrieve(job.id)).status != "completed":
        time.sleep(0.01)
    return ProviderModel(
        provider="together",
        model_id=job.x_model_output_name,
        base_model="meta-llama/Llama-3.1-8B-Instruct",
        job_id=job.id,
    )


def tiny_peft_adapter(folder: Path) -> tuple[object, Path]:
    """A real LoRA adapter on a tiny random Llama, saved the way PEFT saves it."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    base = LlamaForCausalLM(config)
    base.save_pretrained(folder / "base")
    peft = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    for name, weight in peft.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(weight)  # non-zero, so loading it back is checkable
    peft.save_pretrained(str(folder / "adapter"))
    return peft, folder / "base"


def test_download_gives_a_peft_adapter_that_loads(
    tmp_path: Path, sft_file: Path, together_env: TogetherEmulator
) -> None:
    import torch
    from peft import PeftModel
    from transformers import LlamaForCausalLM

    trained, base_path = tiny_peft_adapter(tmp_path / "made")
    together_env.state.config.adapter_dir = tmp_path / "made" / "adapter"
    client = Together(base_url=together_env.base_url, api_key="k")
    model = finished_job(client, sft_file)

    local = model.download(tmp_path / "weights")

    assert isinstance(local, LocalModel)
    assert local.kind == "adapter"
    assert local.base_model == "meta-llama/Llama-3.1-8B-Instruct"
    assert Path(local.path, "adapter_model.safetensors").exists()
    assert load_model(local.to_uri()) == local  # tunesdk_model.json was written
    loaded = PeftModel.from_pretrained(LlamaForCausalLM.from_pretrained(base_path), local.path)
    expected = dict(trained.named_parameters())  # type: ignore[attr-defined]
    for name, weight in loaded.named_parameters():
        if "lora_" in name:
            assert torch.equal(weight, expected[name])
    assert not list(tmp_path.glob(".together-*"))  # the archive was removed


def test_full_fine_tune_downloads_the_model(
    tmp_path: Path, sft_file: Path, together_env: TogetherEmulator
) -> None:
    client = Together(base_url=together_env.base_url, api_key="k")
    model = finished_job(client, sft_file, lora=False)

    local = model.download(tmp_path / "full")

    assert local.kind == "full"
    assert sorted(p.name for p in Path(local.path).iterdir()) == [
        "config.json",
        "model.safetensors",
        "tunesdk_model.json",
    ]


def test_download_refuses_a_non_empty_folder_and_unfinished_jobs(
    tmp_path: Path, sft_file: Path, together_env: TogetherEmulator
) -> None:
    client = Together(base_url=together_env.base_url, api_key="k")
    model = finished_job(client, sft_file)
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(TuneError, match="is not empty"):
        model.download(target)
    assert (target / "keep.txt").read_text() == "mine"

    together_env.state.set_timing(seconds_per_step=10.0)
    job = client.fine_tuning.create(
        training_file=client.files.list().data[0].id,
        model=SERVERLESS,
        batch_size=8,
        train_on_inputs=False,
    )
    pending = model.model_copy(update={"job_id": job.id})
    with pytest.raises(TuneError, match="only completed jobs can be downloaded"):
        pending.download(tmp_path / "later")
